// Test fixtures for the worker loop: WorkerLoopTest (a private redis-server, a real BrokerLoop
// and a WorkerLoop each in a thread of the test, DEALER clients on loopback) and
// ScriptedBrokerTest (a WorkerLoop in a thread against a FakeBrokerRouter the test drives);
// a tiny synthetic model (dim 32, 2 layers, byte-level tokenizer) built in memory. Waits are
// bounded polls. Test thread only (except the loops).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "../model/synth_model.h"
#include "dealer_peer.h"
#include "fake_broker_router.h"
#include "redis_server.h"
#include "rs/broker/loop/broker_loop.h"
#include "rs/engine/engine.h"
#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"
#include "rs/worker/io/worker_loop.h"

namespace rs::worker::io::testing {

namespace sc = rs::schemas;

// Polls `done` every 2 ms until it holds or timeout_ms passes; returns done().
inline bool wait_until(const std::function<bool()>& done, long timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

inline engine::test::SynthModel tiny_model() {
  engine::test::SynthSpec spec;
  spec.dim = 32;
  spec.n_layers = 2;
  spec.ctx = 256;
  spec.seed = 7;
  auto m = engine::test::load_synth(spec);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? std::move(m).value() : engine::test::SynthModel{};
}

// Clients of the broker (longer default waits: model steps run under ASan too).
using Peer = rs::test::DealerPeer;

struct JobResult {
  std::vector<int32_t> tokens;
  std::vector<uint64_t> seqs;
  std::vector<float> logprobs;
  std::string text;
  std::optional<sc::Done> done;
};

class WorkerLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!rs::test::RedisServer::available()) GTEST_SKIP() << "no redis-server";
    ASSERT_TRUE(redis_.start());
    model_ = tiny_model();
    ASSERT_NE(model_.model, nullptr);
    prefix_ = std::string("w").append(std::to_string(std::random_device{}())).append(":");
  }
  void TearDown() override {
    stop_worker();
    stop_broker();
  }

  // A broker on `worker_endpoint` (default: a free port; pass the old one to restart).
  void start_broker(int64_t heartbeat_ms,
                    const std::string& worker_endpoint = "tcp://127.0.0.1:*") {
    broker::BrokerOptions o;
    o.redis.port = redis_.port();
    o.key_prefix = prefix_;
    o.heartbeat_ms = heartbeat_ms;
    o.worker_endpoint = worker_endpoint;
    broker_ = std::make_unique<broker::BrokerLoop>(ctx_, o);
    ASSERT_TRUE(broker_->bind().ok());
    broker_thread_ = std::thread([this] { broker_status_ = broker_->run(); });
  }
  void stop_broker() {
    if (broker_) broker_->request_stop();
    if (broker_thread_.joinable()) broker_thread_.join();
    EXPECT_TRUE(broker_status_.ok()) << broker_status_.to_string();
    broker_.reset();
  }

  WorkerOptions worker_options(int devices, int64_t heartbeat_ms) const {
    WorkerOptions o;
    o.broker_endpoint = broker_->worker_endpoint();
    o.worker_id = "w-test";
    o.model_name = "tiny";
    o.devices = devices;
    o.threads_per_device = 1;
    o.heartbeat_ms = heartbeat_ms;
    o.backoff = wire::BackoffOptions{.initial_ms = 20, .max_ms = 200};
    return o;
  }
  void start_worker(WorkerOptions o) {
    worker_ = std::make_unique<WorkerLoop>(ctx_, model_.model, std::move(o));
    ASSERT_TRUE(worker_->start().ok());
    worker_thread_ = std::thread([this] { worker_status_ = worker_->run(); });
    ASSERT_TRUE(wait_until([this] { return worker_->registered(); }));
  }
  void stop_worker() {
    if (worker_) worker_->request_stop();
    if (worker_thread_.joinable()) worker_thread_.join();
    EXPECT_TRUE(worker_status_.ok()) << worker_status_.to_string();
    worker_.reset();
  }

  std::unique_ptr<Peer> client(const std::string& id) {
    return std::make_unique<Peer>(ctx_, broker_->client_endpoint(), id, 100000, 5000);
  }
  static sc::SubmitRequest request(const std::string& prompt, uint32_t max_tokens, uint64_t seed) {
    sc::SubmitRequest r;
    r.model = "tiny";
    r.prompt = prompt;
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0.8f;
    r.sampling.top_k = 40;
    r.sampling.seed = seed;
    return r;
  }
  // SUBMIT and the job id from ACCEPTED.
  static std::string submit(Peer& c, sc::SubmitRequest r, uint64_t request_id = 1) {
    r.request_id = request_id;
    c.send(r);
    auto accepted = c.expect<sc::Accepted>();
    EXPECT_FALSE(accepted.job_id.empty());
    return accepted.job_id;
  }
  // TOKENS until DONE for n_jobs jobs on `c` (entries may mix jobs); ACCEPTED replies met on
  // the way are recorded in `accepted` (request id -> job id).
  static std::map<std::string, JobResult> collect(
      Peer& c, size_t n_jobs, std::map<uint64_t, std::string>* accepted = nullptr,
      long timeout_ms = 10000) {
    std::map<std::string, JobResult> out;
    size_t n_done = 0;
    while (n_done < n_jobs) {
      auto m = c.recv(timeout_ms);
      if (!m) {
        ADD_FAILURE() << "timed out with " << n_done << " of " << n_jobs << " jobs done";
        break;
      }
      if (auto* t = std::get_if<sc::TokenBatch>(&*m)) {
        for (const auto& e : t->entries) {
          JobResult& j = out[e.job_id];
          j.tokens.push_back(e.token);
          j.seqs.push_back(e.seq);
          j.logprobs.push_back(e.logprob);
          j.text += e.text;
        }
      } else if (auto* d = std::get_if<sc::Done>(&*m)) {
        out[d->record.job_id].done = *d;
        ++n_done;
      } else if (auto* a = std::get_if<sc::Accepted>(&*m); a != nullptr && accepted != nullptr) {
        (*accepted)[a->request_id] = a->job_id;
      }
    }
    return out;
  }
  // The same request straight into an Engine (one sequence, no broker, no worker); the
  // tokens, and their logprobs in `logprobs` if given.
  std::vector<int32_t> direct_run(const sc::SubmitRequest& r,
                                  std::vector<float>* logprobs = nullptr) const {
    engine::EngineConfig c;
    c.n_threads = 1;
    auto eng = engine::Engine::create(model_.model, c);
    EXPECT_TRUE(eng.ok());
    engine::GenerationRequest g;
    g.prompt = r.prompt;
    g.sampling.temperature = r.sampling.temperature;
    g.sampling.top_k = r.sampling.top_k;
    g.sampling.seed = r.sampling.seed;
    g.max_tokens = static_cast<int>(r.max_tokens);
    auto seq = (*eng)->submit(g);
    EXPECT_TRUE(seq.ok());
    std::vector<int32_t> tokens;
    for (int i = 0; i < 10000 && (*eng)->has_work(); ++i) {
      for (const auto& t : (*eng)->step().tokens) {
        tokens.push_back(t.token);
        if (logprobs != nullptr) logprobs->push_back(t.logprob);
      }
    }
    return tokens;
  }

  rs::test::RedisServer redis_;
  zmq::context_t ctx_{1};
  engine::test::SynthModel model_;
  std::string prefix_;
  std::unique_ptr<broker::BrokerLoop> broker_;
  std::thread broker_thread_;
  Status broker_status_;
  std::unique_ptr<WorkerLoop> worker_;
  std::thread worker_thread_;
  Status worker_status_;
};

// A WorkerLoop run in a thread of the test against a FakeBrokerRouter (a bare ROUTER that
// the test drives) standing in for the broker.
class ScriptedBrokerTest : public ::testing::Test {
 protected:
  explicit ScriptedBrokerTest(const std::string& worker_id)
      : broker_(ctx_, worker_id), worker_id_(worker_id) {}
  void TearDown() override {
    stop_worker();
    EXPECT_TRUE(run_status_.ok()) << run_status_.to_string();
  }

  // File mode: the model every device serves (as "tiny").
  void load_model() {
    model_ = tiny_model();
    ASSERT_NE(model_.model, nullptr);
  }
  // A worker named worker_id_ on the router, serving "tiny" (file mode), reconnecting fast.
  WorkerOptions worker_options(int devices, int64_t heartbeat_ms) const {
    WorkerOptions o;
    o.broker_endpoint = broker_.endpoint();
    o.worker_id = worker_id_;
    o.model_name = "tiny";
    o.devices = devices;
    o.heartbeat_ms = heartbeat_ms;
    o.backoff = wire::BackoffOptions{.initial_ms = 10, .max_ms = 100};
    return o;
  }
  // Starts the worker (registry mode if o.registry is set, else on model_) and runs it in
  // thread_; run()'s status lands in run_status_.
  void start_worker(WorkerOptions o) {
    if (o.registry) {
      worker_ = std::make_unique<WorkerLoop>(ctx_, std::move(o));
    } else {
      worker_ = std::make_unique<WorkerLoop>(ctx_, model_.model, std::move(o));
    }
    ASSERT_TRUE(worker_->start().ok());
    thread_ = std::thread([this] { run_status_ = worker_->run(); });
  }
  // READY, acknowledged the way the broker does (a heartbeat), and the worker registered.
  std::optional<sc::WorkerReady> register_worker() {
    auto ready = broker_.accept_ready();
    EXPECT_TRUE(ready.has_value());
    EXPECT_TRUE(wait_until([this] { return worker_->registered(); }));
    return ready;
  }
  // Attempt 1 of `job` on `device`: "hello" for the tiny model.
  static sc::Dispatch dispatch(const std::string& job, int32_t device, uint32_t max_tokens = 8) {
    sc::Dispatch d;
    d.job_id = job;
    d.attempt = 1;
    d.device = device;
    d.request.model = "tiny";
    d.request.prompt = "hello";
    d.request.max_tokens = max_tokens;
    // Exactly max_tokens tokens: the request samples (temperature 1, a random seed), and the
    // synthetic model's EOS may come at any step.
    d.request.ignore_eos = true;
    return d;
  }
  // Stops the worker (if running), joins its thread and destroys it (before the members of
  // a derived fixture its before_step hook may use).
  void stop_worker() {
    if (worker_) worker_->request_stop();
    if (thread_.joinable()) thread_.join();
    worker_.reset();
  }

  zmq::context_t ctx_{1};
  engine::test::SynthModel model_;
  rs::test::FakeBrokerRouter broker_;
  std::string worker_id_;
  std::unique_ptr<WorkerLoop> worker_;
  std::thread thread_;
  Status run_status_;
};

}  // namespace rs::worker::io::testing
