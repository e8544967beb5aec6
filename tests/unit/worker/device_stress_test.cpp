// DeviceHost under churn (issue 11): the test thread plays the worker's I/O thread (submits
// jobs for two model keys, re-submits with a higher attempt, sends duplicate submits,
// cancels, swaps an engine for a fresh one of the same key, retires a key and adds it back,
// takes batches from the outbox when woken), a second thread reads the host's probes
// (load, slots, holds, beats) the whole time, and the engine thread churns with 2 or 4
// pool threads and a KV pool that forces preemption. Checks: batches numbered without gaps,
// each job attempt's tokens numbered from 0 without gaps, each attempt ended exactly once,
// its tokens and text those of the same request run alone (a prefix when cancelled), and
// a model_unavailable end only for jobs submitted while their key was retired.
// RS_STRESS_SECONDS sets the length of each test (default 4 s; CI: 60 s under TSan).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine_churn.h"
#include "rs/worker/device_host.h"
#include "test_paths.h"

namespace rs::worker {
namespace {

using engine::FinishReason;
using test::ChurnCase;
using test::ChurnOutcome;

constexpr int kMaxPrompt = 96;
constexpr int kMaxTokens = 40;
constexpr int kMaxContext = 160;

struct KeyModel {
  std::string key;
  std::shared_ptr<const engine::Model> model;
  std::vector<ChurnCase> cases;
  bool available = true;  // as the test thread last posted it (the inbox keeps order)
};

struct AttemptRecord {
  ChurnOutcome outcome;
  const ChurnCase* want = nullptr;
  bool key_retired = false;    // submitted while its key was retired
  bool maybe_dropped = false;  // a stale submit: dropped with an error line, or run
  int next_seq = 0;
  int n_finished = 0;
};

// Wakes the test thread when the engine thread pushed a batch.
class Waker {
 public:
  std::function<void()> hook() {
    return [this] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++n_;
      }
      cv_.notify_one();
    };
  }
  // Until a batch was pushed since the last wait (at once if one was), at most `timeout`.
  void wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return n_ != seen_; });
    seen_ = n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t n_ = 0;
  uint64_t seen_ = 0;
};

class DeviceStressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uint64_t seed = test::stress_seed() + 100;
    for (auto [key, file] :
         {std::pair{"story", "stories260K.gguf"}, std::pair{"tied", "llama-spm-tied-q8_0.gguf"}}) {
      const std::string path = test::model_path(file);
      RS_REQUIRE_FILE(path);
      auto m = engine::Model::load(path);
      ASSERT_TRUE(m.ok()) << file << ": " << m.status().to_string();
      auto cases = test::solo_cases(
          *m, test::churn_requests(**m, seed++, 16, kMaxPrompt, kMaxTokens), kMaxContext);
      ASSERT_TRUE(cases.ok()) << file << ": " << cases.status().to_string();
      keys_.push_back(KeyModel{key, *m, std::move(*cases), true});
    }
  }

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  void submit_new(DeviceHost& host) {
    const std::string id = "j" + std::to_string(next_job_++);
    submit(host, id, 1);
  }

  void submit(DeviceHost& host, const std::string& id, int attempt) {
    KeyModel& k = keys_[static_cast<size_t>(pick(0, 1))];
    const ChurnCase& c =
        k.cases[static_cast<size_t>(pick(0, static_cast<int>(k.cases.size()) - 1))];
    AttemptRecord& rec = attempts_[{id, attempt}];
    rec.want = &c;
    rec.key_retired = !k.available;
    attempt_of_[id] = attempt;
    host.submit(id, attempt, c.request, k.key);
  }

  // One of the other I/O-thread actions, chosen at random.
  void act(DeviceHost& host) {
    const int r = pick(0, 99);
    if (r < 6 && !attempt_of_.empty()) {  // re-submit with a higher attempt
      auto it = attempt_of_.begin();
      std::advance(it, pick(0, static_cast<int>(attempt_of_.size()) - 1));
      const std::string id = it->first;
      submit(host, id, it->second + 1);
      ++stats_.resubmits;
    } else if (r < 8 && !attempt_of_.empty()) {  // a stale submit (attempt 0), once per job
      auto it = attempt_of_.begin();
      std::advance(it, pick(0, static_cast<int>(attempt_of_.size()) - 1));
      if (attempts_.count({it->first, 0}) != 0) return;
      // Dropped (and reported in StepBatch::errors) while an attempt of the job is in
      // flight; run as a job of its own if the engine thread already ended the last one.
      AttemptRecord& rec = attempts_[{it->first, 0}];
      rec.want = &keys_[0].cases[0];
      rec.maybe_dropped = true;
      host.submit(it->first, 0, keys_[0].cases[0].request, keys_[0].key);
      ++stats_.duplicates;
    } else if (r < 14 && !attempt_of_.empty()) {
      auto it = attempt_of_.begin();
      std::advance(it, pick(0, static_cast<int>(attempt_of_.size()) - 1));
      host.cancel(it->first);
      ++stats_.cancels;
    } else if (r < 15) {  // a fresh engine for a key; the old one drains
      KeyModel& k = keys_[static_cast<size_t>(pick(0, 1))];
      ASSERT_TRUE(host.add_model(k.key, k.model).ok());
      k.available = true;
      ++stats_.swaps;
    } else if (r < 18) {  // retire the second key now and then; add it back sooner
      KeyModel& k = keys_[1];
      if (k.available && r < 17) return;
      if (k.available) {
        host.retire_model(k.key);
      } else {
        ASSERT_TRUE(host.add_model(k.key, k.model).ok());
      }
      k.available = !k.available;
      ++stats_.retires;
    }
  }

  void absorb(DeviceHost& host) {
    for (StepBatch& b : host.take_batches()) {
      ASSERT_EQ(b.number, last_batch_ + 1) << "batch numbers skip";
      last_batch_ = b.number;
      for (const std::string& e : b.errors) errors_.push_back(e);
      for (const TokenOut& t : b.tokens) {
        auto it = attempts_.find({t.job_id, t.attempt});
        ASSERT_NE(it, attempts_.end())
            << "token for unknown job " << t.job_id << " attempt " << t.attempt;
        AttemptRecord& rec = it->second;
        ASSERT_EQ(rec.n_finished, 0) << t.job_id << " token after its end";
        ASSERT_EQ(t.seq, rec.next_seq++) << t.job_id << " attempt " << t.attempt;
        rec.outcome.tokens.push_back(t.token);
        rec.outcome.text += t.piece;
      }
      for (const FinishedOut& f : b.finished) {
        auto it = attempts_.find({f.job_id, f.attempt});
        ASSERT_NE(it, attempts_.end())
            << "end of unknown job " << f.job_id << " attempt " << f.attempt;
        check_end(it->second, f);
        if (attempt_of_.count(f.job_id) && attempt_of_[f.job_id] == f.attempt)
          attempt_of_.erase(f.job_id);
      }
    }
  }

  void check_end(AttemptRecord& rec, const FinishedOut& f) {
    ASSERT_EQ(++rec.n_finished, 1) << f.job_id << " attempt " << f.attempt << " ended twice";
    ++stats_.ended;
    if (f.reason == FinishReason::kError && f.error_code == StatusCode::kNotFound) {
      EXPECT_TRUE(rec.key_retired) << f.job_id << ": " << f.error;
      EXPECT_TRUE(rec.outcome.tokens.empty());
      ++stats_.unavailable;
      return;
    }
    rec.outcome.finished = true;
    rec.outcome.reason = f.reason;
    rec.outcome.error = f.error;
    EXPECT_EQ(test::check_against_solo(*rec.want, rec.outcome), "")
        << f.job_id << " attempt " << f.attempt;
  }

  void churn(int n_threads) {
    const double seconds = test::stress_seconds(4.0);
    rng_.seed(test::stress_seed() + 7 * static_cast<uint64_t>(n_threads));
    Waker waker;
    DeviceHostConfig cfg;
    cfg.engine.n_threads = n_threads;
    cfg.engine.max_batch_size = 8;
    cfg.engine.max_batch_tokens = 32;
    cfg.engine.kv_block_tokens = 16;
    cfg.engine.kv_blocks = 20;
    cfg.engine.max_context = kMaxContext;
    cfg.beat_interval_ms = 5;
    cfg.wake = waker.hook();
    cfg.model_key = keys_[0].key;
    auto started = DeviceHost::start(keys_[0].model, cfg);
    ASSERT_TRUE(started.ok()) << started.status().to_string();
    DeviceHost& host = **started;
    ASSERT_TRUE(host.add_model(keys_[1].key, keys_[1].model).ok());

    std::atomic<bool> probing{true};
    std::atomic<int64_t> probes{0};
    std::thread prober([&] {
      while (probing.load()) {
        const DeviceLoad l = host.load();
        EXPECT_GE(l.free_slots, 0);
        EXPECT_LE(l.kv_free_blocks, l.kv_total_blocks);
        EXPECT_LE(host.slots().size(), 64u);
        (void)host.holds("tied");
        (void)host.last_beat_ns();
        (void)host.outbox().size();
        probes.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    });

    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(seconds));
    while (std::chrono::steady_clock::now() < deadline && !HasFailure()) {
      if (static_cast<int>(attempt_of_.size()) < 24) {
        for (int n = pick(0, 3); n > 0; --n) submit_new(host);
      }
      act(host);
      // Paced by the engine: about one action per step whatever the build's speed (a
      // sanitizer build steps 10-50 times slower), so jobs also get to finish.
      waker.wait(std::chrono::milliseconds(50));
      absorb(host);
    }
    host.stop(pick(0, 1) == 0 ? StopMode::kDrain : StopMode::kCancel);
    absorb(host);
    probing.store(false);
    prober.join();

    int64_t dropped = 0;
    for (const auto& [key, rec] : attempts_) {
      const std::string line =
          "duplicate submit of job " + key.first + " attempt " + std::to_string(key.second) + " ";
      const auto n_dropped =
          std::count_if(errors_.begin(), errors_.end(),
                        [&line](const std::string& e) { return e.rfind(line, 0) == 0; });
      dropped += n_dropped;
      if (rec.maybe_dropped) {
        EXPECT_EQ(rec.n_finished + n_dropped, 1)
            << key.first << " attempt 0: ended or dropped, once";
      } else {
        EXPECT_EQ(rec.n_finished, 1) << key.first << " attempt " << key.second;
        EXPECT_EQ(n_dropped, 0) << key.first << " attempt " << key.second;
      }
    }
    EXPECT_EQ(dropped, static_cast<int64_t>(errors_.size())) << "unexpected device errors";
    std::printf(
        "%d threads: %zu job attempts, %lld resubmits, %lld duplicates, %lld cancels, %lld swaps, "
        "%lld retire/add, %lld model_unavailable, %llu steps, %lld probes\n",
        n_threads, attempts_.size(), static_cast<long long>(stats_.resubmits),
        static_cast<long long>(stats_.duplicates), static_cast<long long>(stats_.cancels),
        static_cast<long long>(stats_.swaps), static_cast<long long>(stats_.retires),
        static_cast<long long>(stats_.unavailable), static_cast<unsigned long long>(host.n_steps()),
        static_cast<long long>(probes.load()));
    EXPECT_EQ(stats_.ended + dropped, static_cast<int64_t>(attempts_.size()));
    EXPECT_GT(stats_.swaps, 0);
    EXPECT_GT(stats_.cancels, 0);
  }

  struct Stats {
    int64_t resubmits = 0, duplicates = 0, cancels = 0, swaps = 0, retires = 0, unavailable = 0,
            ended = 0;
  };
  std::vector<KeyModel> keys_;
  std::mt19937_64 rng_;
  std::map<std::pair<std::string, int>, AttemptRecord> attempts_;
  std::map<std::string, int> attempt_of_;  // jobs in flight -> their latest attempt
  uint64_t next_job_ = 0;
  uint64_t last_batch_ = 0;
  std::vector<std::string> errors_;  // StepBatch::errors, in order
  Stats stats_;
};

TEST_F(DeviceStressTest, ChurnOnTwoPoolThreadsMatchesSoloRuns) {
  churn(2);
}
TEST_F(DeviceStressTest, ChurnOnFourPoolThreadsMatchesSoloRuns) {
  churn(4);
}

}  // namespace
}  // namespace rs::worker
