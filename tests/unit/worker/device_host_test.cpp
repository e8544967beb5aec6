// DeviceHost end to end on stories260K with n_threads=1: jobs posted from other threads,
// the outbox collected as the I/O thread would, compared with a direct Engine run.
#include "rs/worker/device_host.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_paths.h"

namespace rs::worker {
namespace {

using engine::Engine;
using engine::EngineConfig;
using engine::FinishReason;
using engine::GenerationRequest;
using engine::Model;
using std::chrono::milliseconds;

struct HostJobOut {
  std::vector<int32_t> tokens;
  std::vector<int> seqs;
  std::string text;
  int attempt = -1;
  int n_finished = 0;
  FinishedOut finish;
};

// What the I/O thread would do: sleep until woken, take every batch, absorb it.
class Collector {
 public:
  std::function<void()> waker() {
    return [this] {
      std::lock_guard<std::mutex> lock(mu_);
      woken_ = true;
      cv_.notify_all();
    };
  }

  // Collects until done() holds or timeout passes; returns done().
  template <typename Pred>
  bool collect_until(DeviceHost& host, Pred done, milliseconds timeout = milliseconds(20000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, milliseconds(50), [this] { return woken_; });
        woken_ = false;
      }
      absorb(host.take_batches());
      if (std::chrono::steady_clock::now() > deadline) return done();
    }
    return true;
  }

  void absorb(std::vector<StepBatch> batches) {
    for (StepBatch& b : batches) {
      EXPECT_EQ(b.number, last_number + 1) << "batch numbers must have no gaps";
      last_number = b.number;
      std::map<std::string, int> per_job;
      for (const TokenOut& t : b.tokens) {
        EXPECT_EQ(++per_job[t.job_id], 1) << "one token per job per step";
        HostJobOut& j = jobs[t.job_id];
        EXPECT_FALSE(j.n_finished > 0 && j.finish.attempt == t.attempt) << "token after finish: " << t.job_id;
        j.tokens.push_back(t.token);
        j.seqs.push_back(t.seq);
        j.text += t.piece;
        j.attempt = t.attempt;
      }
      for (const FinishedOut& f : b.finished) {
        HostJobOut& j = jobs[f.job_id];
        ++j.n_finished;
        j.finish = f;
      }
      for (const std::string& e : b.errors) errors.push_back(e);
      max_tokens_per_batch = std::max(max_tokens_per_batch, b.tokens.size());
      ++n_batches;
    }
  }

  int n_finished() const {
    int n = 0;
    for (const auto& [id, j] : jobs) n += j.n_finished > 0 ? 1 : 0;
    return n;
  }

  std::map<std::string, HostJobOut> jobs;
  std::vector<std::string> errors;
  uint64_t last_number = 0;
  int n_batches = 0;
  size_t max_tokens_per_batch = 0;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

class DeviceHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test::model_path("stories260K.gguf");
    RS_REQUIRE_FILE(path);
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = *m;
  }

  static EngineConfig engine_config() {
    EngineConfig cfg;
    cfg.max_context = 128;
    cfg.n_threads = 1;
    cfg.max_batch_size = 8;
    cfg.max_batch_tokens = 64;
    return cfg;
  }

  std::unique_ptr<DeviceHost> start(DeviceHostConfig cfg = {}) {
    if (cfg.engine.max_context == 0) cfg.engine = engine_config();
    cfg.wake = collector_.waker();
    auto h = DeviceHost::start(model_, std::move(cfg));
    EXPECT_TRUE(h.ok()) << h.status().to_string();
    return h.ok() ? std::move(*h) : nullptr;
  }

  static GenerationRequest request(const std::string& prompt, int max_tokens,
                                   std::optional<uint64_t> seed = std::nullopt) {
    GenerationRequest r;
    r.prompt = prompt;
    r.max_tokens = max_tokens;
    if (seed) {
      r.sampling.temperature = 0.8f;
      r.sampling.top_k = 40;
      r.sampling.seed = seed;
    }
    return r;
  }

  // The same request run alone on a fresh Engine.
  std::vector<int32_t> direct_run(const GenerationRequest& req) {
    auto e = Engine::create(model_, engine_config());
    EXPECT_TRUE(e.ok());
    auto id = (*e)->submit(req);
    EXPECT_TRUE(id.ok()) << id.status().to_string();
    std::vector<int32_t> out;
    for (int i = 0; i < 1000 && (*e)->has_work(); ++i) {
      for (const auto& t : (*e)->step().tokens) out.push_back(t.token);
    }
    return out;
  }

  std::shared_ptr<const Model> model_;
  Collector collector_;
};

// (not "x" + std::to_string(i): GCC 12 warns -Wrestrict on it, a known false positive)
std::string job_name(const char* prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

const char* const kPrompts[] = {"Once upon a time", "Lily and Tom went to the park.", "The cat",
                                "One day, a little girl named Sue", "Bob had a big red ball"};

TEST_F(DeviceHostTest, TwentyJobsFromAnotherThreadMatchDirectEngine) {
  auto host = start();
  ASSERT_NE(host, nullptr);
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 20; ++i) {
    std::optional<uint64_t> seed;
    if (i % 2 == 1) seed = 1000 + i;
    reqs.push_back(request(kPrompts[i % 5], 8 + i % 7, seed));
  }
  std::thread producer([&] {
    for (int i = 0; i < 20; ++i) {
      host->submit(job_name("job-", i), 1, reqs[i]);
      if (i % 4 == 3) std::this_thread::sleep_for(milliseconds(2));
    }
  });
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return collector_.n_finished() == 20; }));
  producer.join();
  for (int i = 0; i < 20; ++i) {
    const HostJobOut& j = collector_.jobs[job_name("job-", i)];
    EXPECT_EQ(j.n_finished, 1);
    EXPECT_NE(j.finish.reason, FinishReason::kError) << j.finish.error;
    EXPECT_EQ(j.finish.attempt, 1);
    for (size_t k = 0; k < j.seqs.size(); ++k) EXPECT_EQ(j.seqs[k], static_cast<int>(k));
    EXPECT_EQ(j.finish.usage.completion_tokens, static_cast<int>(j.tokens.size()));
    EXPECT_EQ(j.tokens, direct_run(reqs[i])) << "job " << i;
  }
  EXPECT_GT(host->n_steps(), 0u);
  EXPECT_LE(static_cast<uint64_t>(collector_.n_batches), host->n_steps());
  EXPECT_GT(collector_.max_tokens_per_batch, 1u) << "one batch carries every sequence's token";
  EXPECT_TRUE(collector_.errors.empty());
  DeviceLoad load = host->load();
  EXPECT_EQ(load.n_jobs, 0);
  EXPECT_EQ(load.free_slots, 8);
  EXPECT_EQ(load.kv_free_blocks, load.kv_total_blocks);
}

TEST_F(DeviceHostTest, CancelRunningJobEndsCancelledAndFreesKv) {
  // Three steps, then the engine waits until the cancel is posted: the tiny model could
  // otherwise run all 100 tokens before the cancel arrives on a loaded machine.
  std::mutex mu;
  std::condition_variable cv;
  int steps = 0, budget = 3;
  DeviceHostConfig cfg;
  cfg.engine = engine_config();
  cfg.before_step = [&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return steps < budget; });
    ++steps;
  };
  auto host = start(cfg);
  ASSERT_NE(host, nullptr);
  GenerationRequest r = request("Lily and Tom went to the park. They saw", 100);
  r.ignore_eos = true;
  host->submit("long", 3, r);
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return collector_.jobs["long"].tokens.size() >= 2; }));
  EXPECT_LT(host->load().kv_free_blocks, host->load().kv_total_blocks);
  const auto t0 = std::chrono::steady_clock::now();
  host->cancel("long");
  {
    std::lock_guard<std::mutex> lock(mu);
    budget = 1 << 30;
  }
  cv.notify_all();
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return collector_.jobs["long"].n_finished > 0; }));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2000));
  const HostJobOut& j = collector_.jobs["long"];
  EXPECT_EQ(j.finish.reason, FinishReason::kCancelled);
  EXPECT_EQ(j.finish.attempt, 3);
  EXPECT_LT(j.tokens.size(), 100u);
  DeviceLoad load = host->load();
  EXPECT_EQ(load.kv_free_blocks, load.kv_total_blocks);
  EXPECT_EQ(load.n_jobs, 0);
  // A second cancel and a cancel of an unknown job are ignored and counted.
  host->cancel("long");
  host->cancel("nope");
  host->submit("after", 1, request("The cat", 3));
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return collector_.jobs["after"].n_finished > 0; }));
  EXPECT_EQ(host->n_unknown_cancels(), 2u);
  EXPECT_EQ(collector_.jobs["long"].n_finished, 1);
}

TEST_F(DeviceHostTest, InvalidSubmitEndsWithErrorEntry) {
  auto host = start();
  ASSERT_NE(host, nullptr);
  GenerationRequest empty = request("", 5);
  empty.add_bos = false;
  host->submit("empty", 1, empty);
  host->submit("zero-max", 1, request("Once", 0));
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "the cat sat. ";
  host->submit("too-long", 2, request(long_prompt, 5));
  GenerationRequest bad = request("Once", 5);
  bad.prompt_tokens = {1, 999999};
  host->submit("bad-token", 1, bad);
  host->submit("good", 1, request("Once upon a time", 4));
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return collector_.n_finished() == 5; }));
  for (const char* id : {"empty", "zero-max", "too-long", "bad-token"}) {
    const HostJobOut& j = collector_.jobs[id];
    EXPECT_EQ(j.n_finished, 1) << id;
    EXPECT_EQ(j.finish.reason, FinishReason::kError) << id;
    EXPECT_FALSE(j.finish.error.empty()) << id;
    EXPECT_TRUE(j.tokens.empty()) << id;
  }
  EXPECT_EQ(collector_.jobs["too-long"].finish.attempt, 2);
  EXPECT_NE(collector_.jobs["good"].finish.reason, FinishReason::kError);
}

TEST_F(DeviceHostTest, DuplicateSubmitKeepsOneAttemptAndNewerAttemptReplaces) {
  // No step before both submits are posted: on a loaded machine the first attempt could
  // otherwise run all its tokens and be forgotten before the second submit is applied.
  std::mutex mu;
  std::condition_variable cv;
  bool posted = false;
  DeviceHostConfig cfg;
  cfg.engine = engine_config();
  cfg.before_step = [&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return posted; });
  };
  auto host = start(cfg);
  ASSERT_NE(host, nullptr);
  GenerationRequest r = request("Once upon a time", 60);
  r.ignore_eos = true;
  host->submit("dup", 1, r);
  host->submit("dup", 1, r);  // same attempt: dropped, reported as a device error
  {
    std::lock_guard<std::mutex> lock(mu);
    posted = true;
  }
  cv.notify_all();
  // The engine thread may step the first submit before it applies the second: wait for
  // both the first token and the error report.
  ASSERT_TRUE(collector_.collect_until(*host, [&] {
    return !collector_.jobs["dup"].tokens.empty() && !collector_.errors.empty();
  }));
  EXPECT_EQ(collector_.errors.size(), 1u);
  host->submit("dup", 2, request("The cat", 3));  // newer attempt: the old one is cancelled
  int n_attempt2_done = 0;
  ASSERT_TRUE(collector_.collect_until(*host, [&] {
    n_attempt2_done = collector_.jobs["dup"].n_finished;
    return n_attempt2_done >= 2;
  }));
  EXPECT_EQ(collector_.jobs["dup"].finish.attempt, 2);
  EXPECT_EQ(host->load().n_jobs, 0);
}

TEST_F(DeviceHostTest, HeartbeatAdvancesAndStopsWhileEngineIsStuck) {
  std::mutex mu;
  std::condition_variable cv;
  bool blocked = false, release = false;
  DeviceHostConfig cfg;
  cfg.engine = engine_config();
  cfg.beat_interval_ms = 5;
  cfg.before_step = [&] {
    std::unique_lock<std::mutex> lock(mu);
    if (release) return;
    blocked = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  auto host = start(cfg);
  ASSERT_NE(host, nullptr);
  const uint64_t beats0 = host->n_beats();
  std::this_thread::sleep_for(milliseconds(60));
  EXPECT_GT(host->n_beats(), beats0) << "an idle engine thread still beats";
  host->submit("job", 1, request("Once upon a time", 5));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, milliseconds(5000), [&] { return blocked; }));
  }
  const int64_t stuck_beat = host->last_beat_ns();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(host->last_beat_ns(), stuck_beat) << "a stuck engine falls silent";
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return collector_.n_finished() == 1; }));
  EXPECT_GT(host->last_beat_ns(), stuck_beat);
}

TEST_F(DeviceHostTest, StopCancelsJobsInFlight) {
  // After two steps the engine takes one step per 50 ms, so the jobs are surely still
  // running when stop() comes (the tiny model runs 100 steps in a few ms otherwise).
  std::atomic<int> steps{0};
  DeviceHostConfig cfg;
  cfg.engine = engine_config();
  cfg.before_step = [&] {
    if (steps.fetch_add(1) >= 2) std::this_thread::sleep_for(milliseconds(50));
  };
  auto host = start(cfg);
  ASSERT_NE(host, nullptr);
  for (int i = 0; i < 5; ++i) {
    GenerationRequest r = request(kPrompts[i], 100);
    r.ignore_eos = true;
    host->submit(job_name("j", i), 1, r);
  }
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return !collector_.jobs["j0"].tokens.empty(); }));
  host->stop(StopMode::kCancel);
  EXPECT_FALSE(host->running());
  collector_.absorb(host->take_batches());
  for (int i = 0; i < 5; ++i) {
    const HostJobOut& j = collector_.jobs[job_name("j", i)];
    EXPECT_EQ(j.n_finished, 1);
    EXPECT_EQ(j.finish.reason, FinishReason::kCancelled);
  }
  host->submit("late", 1, request("The cat", 3));  // ignored after stop
  host->stop();                                    // idempotent
  host.reset();
}

TEST_F(DeviceHostTest, StopDrainFinishesJobsInFlight) {
  auto host = start();
  ASSERT_NE(host, nullptr);
  for (int i = 0; i < 3; ++i) host->submit(job_name("d", i), 1, request(kPrompts[i], 6));
  host->stop(StopMode::kDrain);
  collector_.absorb(host->take_batches());
  for (int i = 0; i < 3; ++i) {
    const HostJobOut& j = collector_.jobs[job_name("d", i)];
    EXPECT_EQ(j.n_finished, 1);
    EXPECT_TRUE(j.finish.reason == FinishReason::kLength || j.finish.reason == FinishReason::kEos);
    EXPECT_EQ(j.tokens, direct_run(request(kPrompts[i], 6)));
  }
}

TEST_F(DeviceHostTest, DestructorWithJobsInFlightIsSafe) {
  auto host = start();
  ASSERT_NE(host, nullptr);
  for (int i = 0; i < 4; ++i) host->submit(job_name("x", i), 1, request(kPrompts[i], 50));
  std::this_thread::sleep_for(milliseconds(5));
  host.reset();
}

TEST_F(DeviceHostTest, BatchTimeoutHoldsThenRuns) {
  DeviceHostConfig cfg;
  cfg.engine = engine_config();
  cfg.engine.batch_timeout_ms = 30;
  auto host = start(cfg);
  ASSERT_NE(host, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  host->submit("solo", 1, request("Once upon a time", 4));
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return collector_.n_finished() == 1; }));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, milliseconds(25));
  EXPECT_LT(elapsed, milliseconds(5000));
  EXPECT_EQ(collector_.jobs["solo"].tokens, direct_run(request("Once upon a time", 4)));
}

TEST_F(DeviceHostTest, SwapModelFinishesOldJobsOnOldEngine) {
  auto host = start();
  ASSERT_NE(host, nullptr);
  GenerationRequest old_req = request("Lily and Tom went to the park.", 40);
  old_req.ignore_eos = true;
  host->submit("old", 1, old_req);
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return !collector_.jobs["old"].tokens.empty(); }));
  auto other = Model::load(test::model_path("stories260K.gguf"));
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(host->swap_model(*other).ok());
  host->submit("new", 1, request("The cat", 5));
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return !collector_.jobs["new"].tokens.empty(); }));
  if (collector_.jobs["old"].n_finished == 0) {
    EXPECT_EQ(host->load().n_engines, 2);
  }
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return collector_.n_finished() == 2; }));
  EXPECT_EQ(collector_.jobs["old"].tokens, direct_run(old_req));
  EXPECT_EQ(collector_.jobs["new"].tokens, direct_run(request("The cat", 5)));
  EXPECT_EQ(host->load().n_engines, 1);
  EXPECT_FALSE(host->swap_model(nullptr).ok());
}

// The engine thread's metrics: one TTFT per job, one inter-token latency per later token,
// every token counted, one end per job with its prompt tokens, steps and load observed.
TEST_F(DeviceHostTest, MetricsCountEveryJobTokenAndStep) {
  worker::WorkerMetrics metrics("w-test", 1);
  DeviceHostConfig cfg;
  cfg.model_key = "stories";
  cfg.metrics = metrics.device(0);
  auto host = start(std::move(cfg));
  ASSERT_NE(host, nullptr);
  int tokens = 0, prompt = 0;
  for (int i = 0; i < 5; ++i) host->submit(job_name("m-", i), 1, request(kPrompts[i], 6 + i));
  ASSERT_TRUE(collector_.collect_until(*host, [&] { return collector_.n_finished() == 5; }));
  for (int i = 0; i < 5; ++i) {
    const HostJobOut& j = collector_.jobs[job_name("m-", i)];
    tokens += static_cast<int>(j.tokens.size());
    prompt += j.finish.usage.prompt_tokens;
  }
  const std::string text = metrics.registry().render();
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("ringserve_time_to_first_token_seconds_count{worker=\"w-test\",model=\"stories\"} 5")) << text;
  EXPECT_TRUE(has("ringserve_inter_token_latency_seconds_count{worker=\"w-test\",model=\"stories\"} " +
                  std::to_string(tokens - 5)));
  EXPECT_TRUE(has("ringserve_generation_tokens_total{worker=\"w-test\",model=\"stories\"} " +
                  std::to_string(tokens)));
  EXPECT_TRUE(has("ringserve_prompt_tokens_total{worker=\"w-test\",model=\"stories\"} " +
                  std::to_string(prompt)));
  EXPECT_TRUE(has("ringserve_e2e_request_latency_seconds_count{worker=\"w-test\",model=\"stories\"} 5"));
  EXPECT_TRUE(has("ringserve_requests_finished_total{worker=\"w-test\",model=\"stories\",finish_reason=\"length\"} 5"));
  EXPECT_TRUE(has("ringserve_engine_step_duration_seconds_count{worker=\"w-test\",device=\"0\"} " +
                  std::to_string(host->n_steps())));
  EXPECT_TRUE(has("ringserve_kv_blocks_used{worker=\"w-test\",device=\"0\"} 0"));
}

TEST(DeviceHostConfigTest, BadConfigFailsAtStart) {
  const std::string path = test::model_path("stories260K.gguf");
  RS_REQUIRE_FILE(path);
  auto m = Model::load(path);
  ASSERT_TRUE(m.ok());
  DeviceHostConfig cfg;
  cfg.engine.max_batch_size = 0;
  EXPECT_FALSE(DeviceHost::start(*m, cfg).ok());
  EXPECT_FALSE(DeviceHost::start(nullptr, DeviceHostConfig{}).ok());
}

}  // namespace
}  // namespace rs::worker
