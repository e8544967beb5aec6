// Test fixture for the broker loop: a private redis-server, a BrokerLoop running in a
// thread of the test, and DEALER peers (clients, a scripted worker) on loopback. All waits
// are bounded polls; nothing sleeps to synchronize. Test thread only (except the loop).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "dealer_peer.h"
#include "redis_server.h"
#include "test_paths.h"
#include "rs/broker/loop/broker_loop.h"
#include "rs/schemas/frames.h"
#include "rs/store/job_store.h"
#include "rs/store/token_log.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::broker::testing {

namespace sc = rs::schemas;

using Peer = rs::test::DealerPeer;

// A scripted worker's token entries for seqs [from, to) of (job, attempt).
inline std::vector<sc::TokenEntry> scripted_tokens(const std::string& job, uint32_t attempt,
                                                   uint64_t from, uint64_t to) {
  std::vector<sc::TokenEntry> out;
  for (uint64_t s = from; s < to; ++s) {
    out.push_back(sc::TokenEntry{.job_id = job, .attempt = attempt, .seq = s,
                                 .token = static_cast<int32_t>(100 + s),
                                 .text = std::string("t").append(std::to_string(s))});
  }
  return out;
}

class BrokerLoopTest : public ::testing::Test {
 protected:
  // Skips (or fails) here, so a test body never runs without its redis-server.
  void SetUp() override {
    if (!rs::test::RedisServer::available()) {
      if (rs::test::in_ci()) FAIL() << "no redis-server under CI=true";
      GTEST_SKIP() << "no redis-server";
    }
    ASSERT_TRUE(redis_.start());
  }
  void start_broker(size_t max_queued = 100, int64_t heartbeat_ms = 1000, uint32_t max_attempts = 3) {
    BrokerOptions o;
    o.max_queued = max_queued;
    o.heartbeat_ms = heartbeat_ms;
    o.max_attempts = max_attempts;
    start_broker_with(o);
  }
  // threaded = false: the test drives the loop itself with loop_->run_once().
  void start_broker_with(BrokerOptions o, bool threaded = true) {
    o.redis.port = redis_.port();
    o.key_prefix = std::string("t").append(std::to_string(std::random_device{}())).append(":");
    keys_.prefix = o.key_prefix;
    loop_ = std::make_unique<BrokerLoop>(ctx_, o);
    ASSERT_TRUE(loop_->bind().ok());
    if (threaded) thread_ = std::thread([this] { run_status_ = loop_->run(); });
    open_store(keys_.prefix);
  }
  // The test's own view of Redis (conn_, store_, log_) under key prefix `prefix`.
  void open_store(const std::string& prefix) {
    keys_.prefix = prefix;
    conn_ = std::make_unique<store::RedisConnection>(store::RedisOptions{.port = redis_.port()});
    store::JobStoreOptions js;
    js.keys = keys_;
    store_ = std::make_unique<store::JobStore>(*conn_, js);
    store::TokenLogOptions tl;
    tl.keys = keys_;
    log_ = std::make_unique<store::TokenLog>(*conn_, tl);
  }
  void TearDown() override {
    if (loop_) loop_->request_stop();
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_.to_string();
  }

  std::unique_ptr<Peer> client(const std::string& id) {
    return std::make_unique<Peer>(ctx_, loop_->client_endpoint(), id);
  }
  // A worker peer that has sent READY and had it acknowledged (first broker heartbeat).
  std::unique_ptr<Peer> worker(const std::string& id, uint32_t slots, const std::string& model = "m") {
    auto w = std::make_unique<Peer>(ctx_, loop_->worker_endpoint(), id);
    w->set_skip_heartbeats(false);
    w->send(sc::WorkerReady{.worker_id = id,
                            .devices = {sc::DeviceInfo{.index = 0, .models = {model},
                                                       .free_slots = slots, .max_slots = slots}}});
    w->expect<sc::BrokerHeartbeat>();
    w->set_skip_heartbeats(true);
    return w;
  }
  static sc::SubmitRequest submit(uint64_t request_id, const std::string& model = "m") {
    sc::SubmitRequest r;
    r.request_id = request_id;
    r.model = model;
    r.prompt = "hello";
    r.max_tokens = 8;
    return r;
  }
  static std::vector<sc::TokenEntry> tokens(const std::string& job, uint32_t attempt,
                                            uint64_t from, uint64_t to) {
    return scripted_tokens(job, attempt, from, to);
  }
  // Receives TOKENS until DONE (or nothing more); returns the seqs seen and the DONE.
  static std::pair<std::vector<uint64_t>, std::optional<sc::Done>> drain_until_done(Peer& p) {
    std::vector<uint64_t> seqs;
    for (;;) {
      auto m = p.recv();
      if (!m) return {seqs, std::nullopt};
      if (auto* t = std::get_if<sc::TokenBatch>(&*m)) {
        for (const auto& e : t->entries) seqs.push_back(e.seq);
      } else if (auto* d = std::get_if<sc::Done>(&*m)) {
        return {seqs, *d};
      } else {
        ADD_FAILURE() << "unexpected " << sc::command_name(sc::message_command(*m));
      }
    }
  }
  // Receives exactly n token seqs (TOKENS only).
  static std::vector<uint64_t> recv_seqs(Peer& p, size_t n) {
    std::vector<uint64_t> seqs;
    while (seqs.size() < n) {
      auto batch = p.expect<sc::TokenBatch>();
      if (batch.entries.empty()) break;
      for (const auto& e : batch.entries) seqs.push_back(e.seq);
    }
    return seqs;
  }

  rs::test::RedisServer redis_;
  zmq::context_t ctx_{1};
  std::unique_ptr<BrokerLoop> loop_;
  std::thread thread_;
  Status run_status_;
  store::KeySpace keys_;
  std::unique_ptr<store::RedisConnection> conn_;
  std::unique_ptr<store::JobStore> store_;
  std::unique_ptr<store::TokenLog> log_;
};

}  // namespace rs::broker::testing
