// The whole Gateway in-process (its Asio, bridge threads) against an in-process BrokerLoop
// (real Redis) and a worker peer the test drives, so the HTTP session code runs under
// ASan + UBSan and ThreadSanitizer in CI: answers, streams, a vanished client's cancel,
// bad requests, and a clean stop.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "gateway_server_fixture.h"

namespace rs::gateway {
namespace {

namespace sc = rs::schemas;
using nlohmann::json;
using testing::GatewayServerTest;

TEST_F(GatewayServerTest, AnswersModelsAndAWholeCompletion) {
  start_broker();
  auto w = worker("w1", 2);
  start_gateway();
  test::HttpConnection c;
  ASSERT_TRUE(c.connect(gateway_->port()));
  auto health = c.request("GET", "/health");
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200);
  auto models = c.request("GET", "/v1/models");  // same keep-alive connection
  ASSERT_TRUE(models.has_value());
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "m");
  ASSERT_TRUE(c.send_request("POST", "/v1/completions",
                             R"({"model":"m","prompt":"hi","max_tokens":3,"seed":1})"));
  const sc::Dispatch d = serve(*w, 3);
  EXPECT_TRUE(d.request.detach);
  EXPECT_EQ(d.request.sampling.seed, 1u);
  auto r = c.read_response();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["text"], "t0t1t2");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r->header("x-ringserve-job"), d.job_id);
}

TEST_F(GatewayServerTest, StreamsThenCancelsForAVanishedClient) {
  start_broker();
  auto w = worker("w1", 2);
  start_gateway();
  {
    test::HttpConnection c;
    ASSERT_TRUE(c.connect(gateway_->port()));
    ASSERT_TRUE(c.send_request("POST", "/v1/completions",
                               R"({"model":"m","prompt":"hi","max_tokens":50,"stream":true})"));
    auto d = w->expect<sc::Dispatch>();
    w->send(sc::WorkerTokens{.entries = tokens(d.job_id, d.attempt, 0, 2)});
    auto head = c.read_head();
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->header("content-type"), "text/event-stream");
    auto e = c.next_event();
    ASSERT_TRUE(e.has_value());
    EXPECT_FALSE(e->id.empty());
    // The client goes away mid-stream: after the grace the worker is told to cancel.
    c.close();
    auto cancel = w->expect<sc::CancelJob>();
    EXPECT_EQ(cancel.job_id, d.job_id);
    w->send(sc::WorkerDone{.job_id = d.job_id,
                           .attempt = d.attempt,
                           .device = d.device,
                           .finish_reason = "cancelled"});
  }
}

TEST_F(GatewayServerTest, BadRequestsGetTypedErrorsAndTheServerCarriesOn) {
  start_broker();
  start_gateway();
  for (const auto& [body, status] :
       std::vector<std::pair<std::string, int>>{{"{nope", 400},
                                                {std::string(5000, 'x'), 413},
                                                {R"({"model":"m","prompt":"x","n":999})", 400},
                                                {R"({"model":"none","prompt":"x"})", 404}}) {
    test::HttpConnection c;
    ASSERT_TRUE(c.connect(gateway_->port()));
    auto r = c.request("POST", "/v1/completions", body);
    ASSERT_TRUE(r.has_value()) << body.substr(0, 40);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_TRUE(json::parse(r->body).contains("error"));
  }
  test::HttpConnection raw;
  ASSERT_TRUE(raw.connect(gateway_->port()));
  ASSERT_TRUE(raw.send_raw("THIS IS NOT HTTP\r\n\r\n"));
  auto r = raw.read_response();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  test::HttpConnection ok;
  ASSERT_TRUE(ok.connect(gateway_->port()));
  EXPECT_EQ(ok.request("GET", "/health")->status, 200);
}

}  // namespace
}  // namespace rs::gateway
