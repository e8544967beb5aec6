// Engine priorities on stories260K: a batch sequence preempted by an interactive one (for
// its slot) resumes by recompute and ends with the same tokens as an unpreempted run.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "rs/engine/engine.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

class EnginePriorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test::model_path("stories260K.gguf");
    RS_REQUIRE_FILE(path);
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = *m;
  }

  std::unique_ptr<Engine> make(int max_batch_size, bool prefix_cache) {
    EngineConfig cfg;
    cfg.max_batch_size = max_batch_size;
    cfg.max_context = 128;
    cfg.n_threads = 1;
    cfg.prefix_cache = prefix_cache;
    cfg.clock = &clock_;
    auto e = Engine::create(model_, cfg);
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    return e.ok() ? std::move(*e) : nullptr;
  }

  static GenerationRequest req(const std::string& prompt, int max_tokens, Priority p) {
    GenerationRequest r;
    r.prompt = prompt;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    r.priority = p;
    return r;
  }

  // One step: collects tokens and finishes.
  void step(Engine& e) {
    StepResult r = e.step();
    for (const auto& t : r.tokens) tokens_[t.seq].push_back(t.token);
    for (const auto& f : r.finished) finished_[f.seq] = f;
    clock_.advance_ms(1);
  }

  std::shared_ptr<const Model> model_;
  ManualClock clock_;
  std::map<SeqId, std::vector<int32_t>> tokens_;
  std::map<SeqId, FinishEvent> finished_;
};

TEST_F(EnginePriorityTest, PreemptedBatchSequenceResumesWithTheSameTokens) {
  for (bool prefix_cache : {false, true}) {
    SCOPED_TRACE(prefix_cache ? "prefix cache on" : "prefix cache off");
    tokens_.clear();
    finished_.clear();
    auto alone = make(1, prefix_cache);
    ASSERT_NE(alone, nullptr);
    auto a = alone->submit(req("Once upon a time, there was a", 24, Priority::kBatch));
    ASSERT_TRUE(a.ok());
    for (int i = 0; i < 100 && alone->has_work(); ++i) step(*alone);
    const std::vector<int32_t> expected = tokens_[*a];
    ASSERT_EQ(expected.size(), 24u);
    tokens_.clear();  // ids restart at 1 in the next engine
    finished_.clear();

    auto e = make(1, prefix_cache);  // one slot: the interactive job needs the batch one's
    ASSERT_NE(e, nullptr);
    auto b = e->submit(req("Once upon a time, there was a", 24, Priority::kBatch));
    ASSERT_TRUE(b.ok());
    for (int i = 0; i < 6; ++i) step(*e);
    ASSERT_EQ(tokens_[*b].size(), 6u);
    auto in = e->submit(req("The cat sat", 5, Priority::kInteractive));
    ASSERT_TRUE(in.ok());
    step(*e);  // the interactive sequence is admitted at once, the batch one preempted
    EXPECT_EQ(tokens_[*in].size(), 1u);
    EXPECT_EQ(tokens_[*b].size(), 6u);
    EXPECT_EQ(e->n_preemptions(), 1);
    for (int i = 0; i < 200 && e->has_work(); ++i) step(*e);
    ASSERT_EQ(finished_.count(*in), 1u);
    ASSERT_EQ(finished_.count(*b), 1u);
    EXPECT_EQ(finished_[*in].usage.preemptions, 0);
    EXPECT_EQ(finished_[*b].usage.preemptions, 1);
    EXPECT_EQ(finished_[*b].reason, FinishReason::kLength);
    EXPECT_EQ(tokens_[*b], expected);
    EXPECT_EQ(e->kv_free_blocks(), e->kv_total_blocks());
  }
}

TEST_F(EnginePriorityTest, DefaultPriorityIsInteractive) {
  GenerationRequest r;
  EXPECT_EQ(r.priority, Priority::kInteractive);
}

}  // namespace
}  // namespace rs::engine
