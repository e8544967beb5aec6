// WorkerLoop in registry mode against a real redis-server (the model registry) and a
// scripted broker (a FakeBrokerRouter answering heartbeats): READY lists the active version;
// activating v2 sends a heartbeat that lists tiny@2 and no longer tiny@1 while a job dispatched on
// tiny@1 before the switch finishes with v1's tokens; a version whose file does not match its
// sha256 gets an error in the registry and the old version keeps serving; the memory-constrained
// swap (nothing listed for the name while v1 drains); and the polling-only path (--no-subscribe).
// Also prints (no assert) how long a hot swap of the synthetic model takes.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../model/synth_model.h"
#include "child_process.h"
#include "redis_server.h"
#include "rs/engine/engine.h"
#include "rs/store/file_sha256.h"
#include "rs/store/model_registry.h"
#include "rs/worker/io/job_mapping.h"
#include "rs/worker/io/worker_loop.h"
#include "worker_fixture.h"

namespace rs::worker::io::testing {
namespace {

constexpr const char* kRegistryWorkerId = "w-registry";
constexpr long kRegistryWaitMs = 10000;  // loading and swapping models: generous waits
using Keys = std::vector<std::string>;

class WorkerRegistryTest : public ScriptedBrokerTest {
 protected:
  WorkerRegistryTest() : ScriptedBrokerTest(kRegistryWorkerId) {}
  void SetUp() override {
    broker_.answer_heartbeats(true);  // the worker never finds the broker silent
    if (!rs::test::RedisServer::available()) GTEST_SKIP() << "no redis-server";
    ASSERT_TRUE(redis_.start());
    conn_ = std::make_unique<store::RedisConnection>(store::RedisOptions{.port = redis_.port()});
    registry_ = std::make_unique<store::ModelRegistry>(*conn_);
    v1_path_ = write_model("v1.gguf", 1);
    v2_path_ = write_model("v2.gguf", 2);
  }
  void TearDown() override {
    release_steps();
    ScriptedBrokerTest::TearDown();
  }

  std::string write_model(const std::string& name, uint32_t seed) {
    engine::test::SynthSpec spec;
    spec.dim = 32;
    spec.n_layers = 2;
    spec.ctx = 256;
    spec.seed = seed;
    const std::vector<uint8_t> bytes = engine::test::synth_gguf(spec);
    const std::string path = dir_.file(name);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  // A registry version of "tiny" for `path`; `sha256` overrides the file's digest.
  uint32_t add_version(const std::string& path, const std::string& sha256 = {}) {
    store::ModelVersion m;
    m.name = "tiny";
    m.path = path;
    m.size_bytes = std::filesystem::file_size(path);
    auto sha = store::sha256_file(path);
    EXPECT_TRUE(sha.ok());
    m.sha256 = sha256.empty() ? *sha : sha256;
    m.architecture = "llama";
    auto v = registry_->add_version(m);
    EXPECT_TRUE(v.ok()) << v.status().to_string();
    return v.ok() ? *v : 0;
  }

  void start(bool subscribe, uint64_t max_model_bytes = 0, int devices = 2) {
    WorkerOptions o = worker_options(devices, 1000);
    o.model_name.clear();  // registry mode: the keys come from the registry
    o.before_step = [this](int) { before_step(); };
    models::ModelManagerOptions r;
    r.redis.port = redis_.port();
    r.serve = {"tiny"};
    r.max_model_bytes = max_model_bytes;
    r.poll_ms = subscribe ? 1000 : 100;
    r.subscribe = subscribe;
    o.registry = r;
    start_worker(std::move(o));
  }
  // Waits until the registry records an error for version v of "tiny".
  bool version_error_recorded(uint32_t v) {
    return wait_until(
        [&] {
          auto r = registry_->get("tiny", v);
          return r.ok() && !r->error.empty();
        },
        kRegistryWaitMs);
  }
  // The next heartbeat whose every device lists exactly `keys`.
  bool heartbeat_with(const Keys& keys, long timeout_ms = kRegistryWaitMs) {
    return broker_.read_until(
        [&](const sc::Message& m) {
          auto* b = std::get_if<sc::WorkerHeartbeat>(&m);
          if (b == nullptr || b->devices.empty()) return false;
          for (const sc::DeviceLoad& d : b->devices) {
            if (!d.has_models || d.models != keys) return false;
          }
          return true;
        },
        timeout_ms);
  }
  // The next WORKER_FAILED for `job_id`.
  std::optional<sc::WorkerFailed> failed(const std::string& job_id) {
    std::optional<sc::WorkerFailed> out;
    broker_.read_until(
        [&](const sc::Message& m) {
          auto* f = std::get_if<sc::WorkerFailed>(&m);
          if (f != nullptr && f->job_id == job_id) out = *f;
          return out.has_value();
        },
        kRegistryWaitMs);
    return out;
  }

  // Test hook: while held, engine threads wait before each step.
  void before_step() {
    std::unique_lock<std::mutex> lock(mu_);
    if (hold_) {
      blocked_ = true;
      cv_.notify_all();
    }
    cv_.wait(lock, [this] { return !hold_; });
  }
  void hold_steps() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
    blocked_ = false;
  }
  bool wait_blocked() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [this] { return blocked_; });
  }
  void release_steps() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold_ = false;
    }
    cv_.notify_all();
  }

  static sc::Dispatch dispatch(const std::string& job, const std::string& key,
                               uint32_t max_tokens = 24) {
    sc::Dispatch d;
    d.job_id = job;
    d.attempt = 1;
    d.device = 0;
    d.request.model = key;
    d.request.prompt = "Once upon a time";
    d.request.max_tokens = max_tokens;
    d.request.sampling.temperature = 0.8f;
    d.request.sampling.top_k = 40;
    d.request.sampling.seed = 5;
    return d;
  }
  static std::vector<int32_t> direct_run(const std::string& path, const sc::Dispatch& d) {
    auto model = engine::Model::load(path);
    EXPECT_TRUE(model.ok());
    engine::EngineConfig c;
    c.n_threads = 1;
    auto eng = engine::Engine::create(*model, c);
    EXPECT_TRUE(eng.ok());
    EXPECT_TRUE((*eng)->submit(to_generation_request(d.request)).ok());
    std::vector<int32_t> tokens;
    for (int i = 0; i < 10000 && (*eng)->has_work(); ++i) {
      for (const auto& t : (*eng)->step().tokens) tokens.push_back(t.token);
    }
    return tokens;
  }
  // Runs a job to its end; its tokens.
  std::vector<int32_t> run_job(const std::string& job, const std::string& key) {
    broker_.send(dispatch(job, key));
    EXPECT_TRUE(broker_.done(job, kRegistryWaitMs).has_value()) << job;
    return broker_.tokens[job];
  }

  rs::test::RedisServer redis_;
  rs::test::TempDir dir_{"rs-worker-registry"};
  std::unique_ptr<store::RedisConnection> conn_;
  std::unique_ptr<store::ModelRegistry> registry_;
  std::string v1_path_, v2_path_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool blocked_ = false;
};

TEST_F(WorkerRegistryTest, HotSwapKeepsJobsInFlightOnTheirVersion) {
  ASSERT_EQ(add_version(v1_path_), 1u);
  ASSERT_EQ(add_version(v2_path_), 2u);
  ASSERT_TRUE(registry_->activate("tiny", 1).ok());
  start(/*subscribe=*/true);
  auto ready = broker_.accept_ready(kRegistryWaitMs);
  ASSERT_TRUE(ready.has_value());
  ASSERT_EQ(ready->devices.size(), 2u);
  for (const sc::DeviceInfo& d : ready->devices) EXPECT_EQ(d.models, Keys{"tiny@1"});
  EXPECT_EQ(worker_->advertised_keys(), Keys{"tiny@1"});

  hold_steps();  // the job on v1 is admitted, then waits while v2 comes in
  const sc::Dispatch old_job = dispatch("before-switch", "tiny@1");
  broker_.send(old_job);
  ASSERT_TRUE(wait_blocked());
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(registry_->activate("tiny", 2).ok());
  ASSERT_TRUE(heartbeat_with({"tiny@2"})) << "a heartbeat lists tiny@2 and not tiny@1";
  const double swap_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "[ measure  ] hot swap (activate -> heartbeat with tiny@2, synthetic dim-32 model, 2 "
      "devices): %.1f ms\n",
      swap_ms);
  release_steps();
  ASSERT_TRUE(broker_.done("before-switch", kRegistryWaitMs).has_value());
  EXPECT_EQ(broker_.tokens["before-switch"], direct_run(v1_path_, old_job)) << "finished on v1";

  const std::vector<int32_t> v2_tokens = run_job("after-switch", "tiny@2");
  EXPECT_EQ(v2_tokens, direct_run(v2_path_, dispatch("after-switch", "tiny@2")));
  EXPECT_NE(v2_tokens, broker_.tokens["before-switch"]);
  broker_.send(dispatch("late-v1", "tiny@1"));
  auto f = failed("late-v1");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->code, sc::ErrorCode::kModelUnavailable);
  EXPECT_TRUE(
      wait_until([&] { return worker_->counters().models_held.load() == 1; }, kRegistryWaitMs))
      << "v1's weights are released once its job drained";
}

TEST_F(WorkerRegistryTest, BadChecksumIsRecordedAndTheOldVersionKeepsServing) {
  ASSERT_EQ(add_version(v1_path_), 1u);
  ASSERT_EQ(add_version(v2_path_), 2u);
  ASSERT_TRUE(registry_->activate("tiny", 2).ok());
  start(/*subscribe=*/true, 0, /*devices=*/1);
  auto ready = broker_.accept_ready(kRegistryWaitMs);
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->devices.at(0).models, Keys{"tiny@2"});
  // v3's record claims v1's digest, but its file is v2's bytes.
  const std::string v3_path = write_model("v3.gguf", 3);
  auto v1_sha = store::sha256_file(v1_path_);
  ASSERT_TRUE(v1_sha.ok());
  ASSERT_EQ(add_version(v3_path, *v1_sha), 3u);
  ASSERT_TRUE(registry_->activate("tiny", 3).ok());
  ASSERT_TRUE(version_error_recorded(3));
  EXPECT_NE(registry_->get("tiny", 3)->error.find("sha256"), std::string::npos)
      << registry_->get("tiny", 3)->error;
  EXPECT_TRUE(heartbeat_with({"tiny@2"}, 3000));
  EXPECT_EQ(run_job("still-v2", "tiny@2"), direct_run(v2_path_, dispatch("still-v2", "tiny@2")));
  EXPECT_EQ(worker_->advertised_keys(), Keys{"tiny@2"});
}

TEST_F(WorkerRegistryTest, MemoryConstrainedSwapDrainsBeforeLoading) {
  ASSERT_EQ(add_version(v1_path_), 1u);
  ASSERT_EQ(add_version(v2_path_), 2u);
  ASSERT_TRUE(registry_->activate("tiny", 1).ok());
  const uint64_t size = std::filesystem::file_size(v1_path_);
  start(/*subscribe=*/true, size + size / 2, /*devices=*/1);  // one version fits, not two
  ASSERT_TRUE(broker_.accept_ready(kRegistryWaitMs).has_value());
  hold_steps();
  const sc::Dispatch old_job = dispatch("draining", "tiny@1");
  broker_.send(old_job);
  ASSERT_TRUE(wait_blocked());
  ASSERT_TRUE(registry_->activate("tiny", 2).ok());
  ASSERT_TRUE(heartbeat_with({})) << "stops advertising v1 while it drains";
  EXPECT_EQ(worker_->counters().models_held.load(), 1u) << "v2 not loaded beside v1";
  release_steps();
  ASSERT_TRUE(heartbeat_with({"tiny@2"}));
  ASSERT_TRUE(broker_.done("draining", kRegistryWaitMs).has_value());
  EXPECT_EQ(broker_.tokens["draining"], direct_run(v1_path_, old_job));
  EXPECT_EQ(run_job("on-v2", "tiny@2"), direct_run(v2_path_, dispatch("on-v2", "tiny@2")));
  EXPECT_EQ(worker_->counters().models_held.load(), 1u);
}

TEST_F(WorkerRegistryTest, InvalidGgufWithAMatchingChecksumNeverRetiresTheOldVersion) {
  ASSERT_EQ(add_version(v1_path_), 1u);
  ASSERT_TRUE(registry_->activate("tiny", 1).ok());
  const uint64_t size = std::filesystem::file_size(v1_path_);
  start(/*subscribe=*/true, size + size / 2, /*devices=*/1);  // memory-constrained
  ASSERT_TRUE(broker_.accept_ready(kRegistryWaitMs).has_value());
  // v2 is half a GGUF, registered with its own (matching) digest.
  const std::string cut = dir_.file("cut.gguf");
  std::filesystem::copy_file(v2_path_, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(v2_path_) / 2);
  ASSERT_EQ(add_version(cut), 2u);
  ASSERT_TRUE(registry_->activate("tiny", 2).ok());
  ASSERT_TRUE(version_error_recorded(2));
  EXPECT_NE(registry_->get("tiny", 2)->error.find("cannot load"), std::string::npos)
      << registry_->get("tiny", 2)->error;
  // Verify failed before anything was retired: v1 was never withdrawn.
  EXPECT_EQ(worker_->advertised_keys(), Keys{"tiny@1"});
  EXPECT_EQ(run_job("still-v1", "tiny@1"), direct_run(v1_path_, dispatch("still-v1", "tiny@1")));
}

TEST_F(WorkerRegistryTest, WithoutSubscribeTheChangeIsCaughtByPolling) {
  ASSERT_EQ(add_version(v1_path_), 1u);
  ASSERT_EQ(add_version(v2_path_), 2u);
  ASSERT_TRUE(registry_->activate("tiny", 1).ok());
  start(/*subscribe=*/false, 0, /*devices=*/1);
  auto ready = broker_.accept_ready(kRegistryWaitMs);
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->devices.at(0).models, Keys{"tiny@1"});
  ASSERT_TRUE(registry_->activate("tiny", 2).ok());
  ASSERT_TRUE(heartbeat_with({"tiny@2"}));
  EXPECT_EQ(run_job("polled", "tiny@2"), direct_run(v2_path_, dispatch("polled", "tiny@2")));
}

}  // namespace
}  // namespace rs::worker::io::testing
