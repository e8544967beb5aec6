// GatewayServerTest: the whole Gateway in-process (its Asio and bridge threads, --no-auth)
// against an in-process BrokerLoop (real Redis) and a worker peer the test drives, for the
// gateway's server tests (gateway_server_test, chat_server_test). Test thread only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "../brokerloop/broker_fixture.h"
#include "http_client.h"
#include "rs/gateway/gateway.h"

namespace rs::gateway::testing {

namespace sc = rs::schemas;

class GatewayServerTest : public broker::testing::BrokerLoopTest {
 protected:
  void start_gateway() {
    GatewayOptions o;
    o.broker_endpoint = loop_->client_endpoint();
    o.no_auth = true;
    o.max_body_bytes = 4096;
    o.disconnect_grace_ms = 50;
    o.keepalive_ms = 100;
    gateway_ = std::make_unique<Gateway>(o);
    ASSERT_TRUE(gateway_->start().ok());
    thread_ = std::thread([this] { EXPECT_TRUE(gateway_->run().ok()); });
  }
  void TearDown() override {
    if (gateway_) gateway_->stop();
    if (thread_.joinable()) thread_.join();
    gateway_.reset();
    BrokerLoopTest::TearDown();
  }
  // The worker peer answers one DISPATCH with `n` tokens "t0".."t{n-1}" and DONE.
  static sc::Dispatch serve(broker::testing::Peer& w, uint64_t n) {
    auto d = w.expect<sc::Dispatch>();
    w.send(sc::WorkerTokens{.entries = tokens(d.job_id, d.attempt, 0, n)});
    w.send(sc::WorkerDone{
        .job_id = d.job_id,
        .attempt = d.attempt,
        .device = d.device,
        .usage = sc::Usage{.prompt_tokens = 2, .completion_tokens = static_cast<uint32_t>(n)},
        .finish_reason = "length"});
    return d;
  }
  std::unique_ptr<Gateway> gateway_;
  std::thread thread_;
};

}  // namespace rs::gateway::testing
