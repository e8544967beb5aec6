// Greedy tokens do not depend on batch composition: each fixture prompt generated alone
// equals the same prompt inside a batch of 16 mixed requests with staggered arrivals,
// chunked prefill, prefix-cache hits and (in one run) preemption by recompute.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "rs/engine/engine.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

struct Job {
  GenerationRequest request;
  std::vector<int32_t> expected;
};

struct RunStats {
  int n_preempted = 0;
  int max_seqs = 0;
  int max_tokens = 0;
};

void drain_step(Engine& e, std::map<SeqId, std::vector<int32_t>>& got, RunStats& stats) {
  StepResult r = e.step();
  stats.n_preempted += r.n_preempted;
  stats.max_seqs = std::max(stats.max_seqs, r.n_seqs);
  stats.max_tokens = std::max(stats.max_tokens, r.n_tokens);
  for (const auto& t : r.tokens) got[t.seq].push_back(t.token);
  for (const auto& f : r.finished) EXPECT_NE(f.reason, FinishReason::kError) << f.error;
}

// Submits jobs in three waves (6, 5, rest) with steps in between, runs to the end.
std::vector<std::vector<int32_t>> run_staggered(Engine& e, const std::vector<Job>& jobs, RunStats& stats) {
  std::map<SeqId, std::vector<int32_t>> got;
  std::vector<SeqId> ids;
  auto submit = [&](size_t from, size_t to) {
    for (size_t i = from; i < std::min(to, jobs.size()); ++i) {
      auto id = e.submit(jobs[i].request);
      EXPECT_TRUE(id.ok()) << id.status().to_string();
      ids.push_back(id.ok() ? *id : 0);
    }
  };
  submit(0, 6);
  for (int i = 0; i < 3; ++i) drain_step(e, got, stats);
  submit(6, 11);
  for (int i = 0; i < 2; ++i) drain_step(e, got, stats);
  submit(11, jobs.size());
  for (int i = 0; i < 100000 && e.has_work(); ++i) drain_step(e, got, stats);
  std::vector<std::vector<int32_t>> out;
  for (SeqId id : ids) out.push_back(got[id]);
  return out;
}

class BatchInvarianceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string model_file = test::model_path(GetParam() + ".gguf");
    const std::string fixture_file = test::fixture_path(GetParam() + ".json");
    RS_REQUIRE_FILE(model_file);
    RS_REQUIRE_FILE(fixture_file);
    auto m = Model::load(model_file);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = *m;
    const auto fixture = test::load_json(fixture_file);
    for (const auto& g : fixture["generate"]) {
      prompts_.push_back(g["prompt_ids"].get<std::vector<int32_t>>());
    }
    ASSERT_FALSE(prompts_.empty());
    // Reference: each prompt alone.
    EngineConfig cfg;
    cfg.max_context = 256;
    cfg.n_threads = 2;
    auto e = Engine::create(model_, cfg);
    ASSERT_TRUE(e.ok());
    for (const auto& p : prompts_) {
      GenerationRequest r;
      r.prompt_tokens = p;
      r.max_tokens = 48;
      RunStats stats;
      Job job{r, {}};
      alone_.push_back(run_staggered(**e, {job}, stats)[0]);
      ASSERT_GE(alone_.back().size(), 2u);
    }
  }

  // 16 jobs: plain prompts, prompts extended by part of their own greedy continuation
  // (which must continue it), and shorter max_tokens.
  std::vector<Job> mixed_jobs() const {
    std::vector<Job> jobs;
    for (size_t j = 0; jobs.size() < 16; ++j) {
      const size_t b = j % prompts_.size();
      const size_t variant = (j / prompts_.size()) % 3;
      const std::vector<int32_t>& ref = alone_[b];
      Job job;
      job.request.prompt_tokens = prompts_[b];
      if (variant == 0) {
        job.request.max_tokens = 48;
        job.expected = ref;
      } else if (variant == 1) {
        const size_t k = std::min(ref.size() - 1, 5 + 3 * b);
        job.request.prompt_tokens.insert(job.request.prompt_tokens.end(), ref.begin(), ref.begin() + static_cast<long>(k));
        job.request.max_tokens = 48 - static_cast<int>(k);
        job.expected.assign(ref.begin() + static_cast<long>(k), ref.end());
      } else {
        job.request.max_tokens = static_cast<int>(std::min<size_t>(ref.size(), 17 + b));
        job.expected.assign(ref.begin(), ref.begin() + job.request.max_tokens);
      }
      jobs.push_back(job);
    }
    return jobs;
  }

  void check(const EngineConfig& cfg, RunStats* stats_out = nullptr) {
    auto e = Engine::create(model_, cfg);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    const auto jobs = mixed_jobs();
    RunStats stats;
    const auto got = run_staggered(**e, jobs, stats);
    for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(got[i], jobs[i].expected) << "job " << i;
    EXPECT_LE(stats.max_tokens, cfg.max_batch_tokens);
    EXPECT_GT(stats.max_seqs, 1);
    EXPECT_EQ((*e)->kv_free_blocks(), (*e)->kv_total_blocks());
    if (stats_out != nullptr) *stats_out = stats;
  }

  std::shared_ptr<const Model> model_;
  std::vector<std::vector<int32_t>> prompts_;
  std::vector<std::vector<int32_t>> alone_;
};

TEST_P(BatchInvarianceTest, ChunkedPrefillBatch) {
  EngineConfig cfg;
  cfg.max_context = 256;
  cfg.n_threads = 2;
  cfg.max_batch_tokens = 24;
  check(cfg);
}

TEST_P(BatchInvarianceTest, SmallPoolForcesPreemption) {
  EngineConfig cfg;
  cfg.max_context = 256;
  cfg.n_threads = 2;
  cfg.max_batch_tokens = 40;
  cfg.kv_block_tokens = 8;
  cfg.kv_blocks = 20;
  RunStats stats;
  check(cfg, &stats);
  EXPECT_GT(stats.n_preempted, 0);
}

TEST_P(BatchInvarianceTest, FewSlotsNoPrefixCache) {
  EngineConfig cfg;
  cfg.max_context = 256;
  cfg.n_threads = 1;
  cfg.max_batch_size = 5;
  cfg.max_batch_tokens = 64;
  cfg.prefix_cache = false;
  check(cfg);
}

INSTANTIATE_TEST_SUITE_P(Models, BatchInvarianceTest,
                         ::testing::Values("stories260K", "llama-spm-tied-f32", "qwen2-gpt2vocab-f32",
                                           "llama-spm-tied-q8_0", "qwen2-gpt2vocab-q8_0"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace rs::engine
