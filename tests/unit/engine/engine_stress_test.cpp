// Engine under churn (issue 11): sequences arrive in bursts, finish, are cancelled at random
// and preempted (a KV pool far smaller than the load; interactive arrivals preempt batch
// sequences); prefill chunks ride along with decodes and the batch changes size from step
// to step; each round builds a new engine (2 or 4 pool threads) over one of three models
// (F32 llama, Q8_0 llama with tied output, Q8_0 qwen2). Every sequence must produce what
// it produces alone on a 1-thread engine: the same tokens, bit-identical logprobs, the same
// text and end (a cancelled one a prefix of it). RS_STRESS_SECONDS sets the length of each
// test (default 4 s; CI runs 60 s under ThreadSanitizer); RS_STRESS_SEED the workload.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine_churn.h"
#include "rs/engine/engine.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

using test::ChurnCase;
using test::ChurnOutcome;

constexpr int kMaxPrompt = 96;
constexpr int kMaxTokens = 40;
constexpr int kMaxContext = 160;
constexpr int kCasesPerModel = 20;

struct StressModel {
  std::string file;
  std::shared_ptr<const Model> model;
  std::vector<ChurnCase> cases;
};

struct ChurnStats {
  int64_t steps = 0;
  int64_t submitted = 0;
  int64_t finished = 0;
  int64_t cancelled = 0;
  int64_t preemptions = 0;
  int64_t mixed_steps = 0;  // a prefill chunk and at least one other sequence in one step
  std::set<int> batch_sizes;
};

// Drives one engine through bursts, steady arrivals and drains, checking each sequence as
// it ends.
class EngineChurn {
 public:
  EngineChurn(Engine& engine, const std::vector<ChurnCase>& cases, uint64_t seed)
      : engine_(engine), cases_(cases), rng_(seed) {}

  void run_for(std::chrono::steady_clock::duration d, ChurnStats& stats) {
    const auto deadline = std::chrono::steady_clock::now() + d;
    int phase = 0;
    for (int64_t i = 0; std::chrono::steady_clock::now() < deadline && !testing::Test::HasFailure();
         ++i) {
      if (i % 150 == 0) phase = pick(0, 2);  // 0: burst, 1: steady, 2: drain
      if (phase == 0) {
        for (int n = pick(0, 3); n > 0; --n) submit(stats);
      } else if (phase == 1 && pick(0, 2) == 0) {
        submit(stats);
      }
      if (!live_.empty() && pick(0, 19) == 0) cancel_one(stats);
      step(stats);
    }
    drain(stats);
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  void submit(ChurnStats& stats) {
    const size_t c = static_cast<size_t>(pick(0, static_cast<int>(cases_.size()) - 1));
    auto id = engine_.submit(cases_[c].request);
    ASSERT_TRUE(id.ok()) << id.status().to_string();
    live_[*id].case_index = c;
    ++stats.submitted;
  }

  void cancel_one(ChurnStats& stats) {
    auto it = live_.begin();
    std::advance(it, pick(0, static_cast<int>(live_.size()) - 1));
    if (it->second.finished) return;
    EXPECT_TRUE(engine_.cancel(it->first));
    ++stats.cancelled;
  }

  void step(ChurnStats& stats) {
    StepResult r = engine_.step();
    ++stats.steps;
    stats.preemptions += r.n_preempted;
    if (r.n_seqs > 0) stats.batch_sizes.insert(r.n_seqs);
    if (r.n_seqs > 1 && r.n_tokens > r.n_seqs) ++stats.mixed_steps;
    for (const TokenEvent& t : r.tokens) {
      auto it = live_.find(t.seq);
      ASSERT_NE(it, live_.end()) << "token for unknown sequence " << t.seq;
      ChurnOutcome& o = it->second;
      ASSERT_FALSE(o.finished) << "token after the end of sequence " << t.seq;
      ASSERT_EQ(t.index, static_cast<int>(o.tokens.size())) << "sequence " << t.seq;
      o.tokens.push_back(t.token);
      o.logprobs.push_back(t.logprob);
      o.text += t.piece;
    }
    for (const FinishEvent& f : r.finished) {
      auto it = live_.find(f.seq);
      ASSERT_NE(it, live_.end()) << "end of unknown sequence " << f.seq;
      ChurnOutcome& o = it->second;
      ASSERT_FALSE(o.finished) << "sequence " << f.seq << " ended twice";
      o.finished = true;
      o.reason = f.reason;
      o.error = f.error;
      const std::string why = test::check_against_solo(cases_[o.case_index], o);
      ASSERT_EQ(why, "") << "sequence " << f.seq << " (case " << o.case_index << ")";
      ++stats.finished;
      live_.erase(it);
    }
  }

  void drain(ChurnStats& stats) {
    for (int i = 0; i < 200000 && engine_.has_work() && !testing::Test::HasFailure(); ++i)
      step(stats);
    EXPECT_FALSE(engine_.has_work());
    EXPECT_TRUE(live_.empty()) << live_.size() << " sequences never ended";
    EXPECT_EQ(engine_.n_running(), 0);
    EXPECT_EQ(engine_.kv_free_blocks(), engine_.kv_total_blocks())
        << "KV blocks still held after the drain";
  }

  Engine& engine_;
  const std::vector<ChurnCase>& cases_;
  std::mt19937_64 rng_;
  std::map<SeqId, ChurnOutcome> live_;
};

class EngineStressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uint64_t seed = test::stress_seed();
    for (const char* file :
         {"stories260K.gguf", "llama-spm-tied-q8_0.gguf", "qwen2-gpt2vocab-q8_0.gguf"}) {
      const std::string path = test::model_path(file);
      RS_REQUIRE_FILE(path);
      auto m = Model::load(path);
      ASSERT_TRUE(m.ok()) << file << ": " << m.status().to_string();
      StressModel sm{file, *m, {}};
      auto cases = test::solo_cases(
          sm.model, test::churn_requests(*sm.model, seed++, kCasesPerModel, kMaxPrompt, kMaxTokens),
          kMaxContext);
      ASSERT_TRUE(cases.ok()) << file << ": " << cases.status().to_string();
      sm.cases = std::move(*cases);
      models_.push_back(std::move(sm));
    }
  }

  // Rounds of a fresh engine over the next model until the time is up; asserts the churn
  // reached what it is for (preemption, cancels, mixed steps, many batch sizes).
  void churn(int n_threads) {
    const double seconds = test::stress_seconds(4.0);
    const auto round = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(std::max(0.5, seconds / 12)));
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(seconds));
    std::mt19937_64 rng(test::stress_seed() + static_cast<uint64_t>(n_threads));
    ChurnStats stats;
    int rounds = 0;
    while ((std::chrono::steady_clock::now() < deadline || rounds < 3) && !HasFailure()) {
      const StressModel& sm = models_[static_cast<size_t>(rounds % models_.size())];
      EngineConfig cfg;
      cfg.n_threads = n_threads;
      cfg.max_batch_size = 6 + static_cast<int>(rng() % 7);
      cfg.max_batch_tokens = 24 + static_cast<int>(rng() % 40);
      cfg.kv_block_tokens = 16;
      cfg.kv_blocks = 14 + static_cast<int>(rng() % 20);  // one full sequence needs 10
      cfg.max_context = kMaxContext;
      auto eng = Engine::create(sm.model, cfg);
      ASSERT_TRUE(eng.ok()) << eng.status().to_string();
      SCOPED_TRACE(sm.file + " round " + std::to_string(rounds) + " seed " +
                   std::to_string(test::stress_seed()));
      EngineChurn(**eng, sm.cases, rng()).run_for(round, stats);
      ++rounds;
    }
    std::printf(
        "%d threads: %d rounds, %lld steps, %lld sequences (%lld cancelled), %lld preemptions, "
        "%lld mixed steps, %zu batch sizes\n",
        n_threads, rounds, static_cast<long long>(stats.steps),
        static_cast<long long>(stats.finished), static_cast<long long>(stats.cancelled),
        static_cast<long long>(stats.preemptions), static_cast<long long>(stats.mixed_steps),
        stats.batch_sizes.size());
    EXPECT_EQ(stats.finished, stats.submitted);
    EXPECT_GT(stats.cancelled, 0);
    EXPECT_GT(stats.preemptions, 0);
    EXPECT_GT(stats.mixed_steps, 0);
    EXPECT_GE(stats.batch_sizes.size(), 4u);
  }

  std::vector<StressModel> models_;
};

TEST_F(EngineStressTest, ChurnOnTwoPoolThreadsMatchesSoloRuns) {
  churn(2);
}
TEST_F(EngineStressTest, ChurnOnFourPoolThreadsMatchesSoloRuns) {
  churn(4);
}

}  // namespace
}  // namespace rs::engine
