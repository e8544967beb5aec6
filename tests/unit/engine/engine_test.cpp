// Engine end to end on stories260K (a 260K-parameter model: fast even under ASan).
#include "rs/engine/engine.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "test_paths.h"

namespace rs::engine {
namespace {

struct Output {
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<float> logprobs;
  bool finished = false;
  FinishEvent finish;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test::model_path("stories260K.gguf");
    RS_REQUIRE_FILE(path);
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = *m;
  }

  std::unique_ptr<Engine> make_engine(EngineConfig cfg = {}) {
    if (cfg.max_context == 0) cfg.max_context = 128;
    if (cfg.n_threads == 0) cfg.n_threads = 1;
    cfg.clock = cfg.clock != nullptr ? cfg.clock : &clock_;
    auto e = Engine::create(model_, cfg);
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    return e.ok() ? std::move(*e) : nullptr;
  }

  void absorb(const StepResult& r) {
    for (const auto& t : r.tokens) {
      Output& o = outputs_[t.seq];
      EXPECT_EQ(t.index, static_cast<int>(o.tokens.size()));
      o.tokens.push_back(t.token);
      o.text += t.piece;
      o.logprobs.push_back(t.logprob);
    }
    for (const auto& f : r.finished) {
      Output& o = outputs_[f.seq];
      EXPECT_FALSE(o.finished);
      o.finished = true;
      o.finish = f;
    }
  }

  void run(Engine& e, int max_steps = 1000) {
    for (int i = 0; i < max_steps && e.has_work(); ++i) {
      absorb(e.step());
      clock_.advance_ms(1);
    }
    EXPECT_FALSE(e.has_work());
  }

  static GenerationRequest request(const std::string& prompt, int max_tokens) {
    GenerationRequest r;
    r.prompt = prompt;
    r.max_tokens = max_tokens;
    return r;
  }

  std::shared_ptr<const Model> model_;
  ManualClock clock_;
  std::map<SeqId, Output> outputs_;
};

TEST_F(EngineTest, MaxTokensAndUsage) {
  auto e = make_engine();
  GenerationRequest r = request("Once upon a time", 6);
  r.ignore_eos = true;
  auto id = e->submit(r);
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  clock_.advance_ms(3);
  run(*e);
  const Output& o = outputs_[*id];
  ASSERT_TRUE(o.finished);
  EXPECT_EQ(o.finish.reason, FinishReason::kLength);
  EXPECT_EQ(o.tokens.size(), 6u);
  const Usage& u = o.finish.usage;
  EXPECT_EQ(u.prompt_tokens, 5);  // BOS + 4
  EXPECT_EQ(u.completion_tokens, 6);
  EXPECT_EQ(u.cached_prompt_tokens, 0);
  EXPECT_DOUBLE_EQ(u.queue_ms, 3.0);
  EXPECT_DOUBLE_EQ(u.ttft_ms, 3.0);
  EXPECT_DOUBLE_EQ(u.total_ms, 8.0);
  EXPECT_NEAR(u.decode_tps, 1000.0, 1e-6);  // 5 tokens in 5 ms
  for (float lp : o.logprobs) EXPECT_LE(lp, 0.0f);
  EXPECT_FALSE(o.text.empty());
  EXPECT_EQ(e->kv_free_blocks(), e->kv_total_blocks());
}

TEST_F(EngineTest, CancelRunningFreesBlocksAndReportsCancelled) {
  auto e = make_engine();
  auto id = e->submit(request("Lily and Tom went to the park. They saw", 40));
  ASSERT_TRUE(id.ok());
  absorb(e->step());
  absorb(e->step());
  EXPECT_LT(e->kv_free_blocks(), e->kv_total_blocks());
  EXPECT_TRUE(e->cancel(*id));
  EXPECT_EQ(e->kv_free_blocks(), e->kv_total_blocks());
  EXPECT_FALSE(e->cancel(*id));
  EXPECT_EQ(e->n_running(), 0);
  EXPECT_TRUE(e->has_work());
  StepResult r = e->step();
  ASSERT_EQ(r.finished.size(), 1u);
  EXPECT_EQ(r.finished[0].seq, *id);
  EXPECT_EQ(r.finished[0].reason, FinishReason::kCancelled);
  EXPECT_EQ(r.finished[0].usage.completion_tokens, 2);
  EXPECT_STREQ(finish_reason_name(r.finished[0].reason), "cancelled");
  EXPECT_FALSE(e->has_work());
}

TEST_F(EngineTest, CancelWaiting) {
  EngineConfig cfg;
  cfg.max_batch_size = 1;
  auto e = make_engine(cfg);
  auto a = e->submit(request("Once upon a time", 4));
  auto b = e->submit(request("One day, a big red ball", 4));
  ASSERT_TRUE(a.ok() && b.ok());
  absorb(e->step());
  EXPECT_EQ(e->n_waiting(), 1);
  EXPECT_TRUE(e->cancel(*b));
  EXPECT_EQ(e->n_waiting(), 0);
  run(*e);
  EXPECT_EQ(outputs_[*b].finish.reason, FinishReason::kCancelled);
  EXPECT_TRUE(outputs_[*b].tokens.empty());
  EXPECT_TRUE(outputs_[*a].finished);
}

TEST_F(EngineTest, StopStringCutsOutput) {
  auto e = make_engine();
  GenerationRequest r = request("Once upon a time", 40);
  r.ignore_eos = true;
  auto full = e->submit(r);
  run(*e);
  const std::string text = outputs_[*full].text;
  ASSERT_GT(text.size(), 20u);
  // A stop string from the middle of the greedy output.
  const std::string stop = text.substr(10, 4);
  const size_t at = text.find(stop);
  r.stop = {"zzzz-never", stop};
  auto cut = e->submit(r);
  run(*e);
  const Output& o = outputs_[*cut];
  EXPECT_EQ(o.finish.reason, FinishReason::kStop);
  EXPECT_EQ(o.text, text.substr(0, at));
  EXPECT_LT(o.tokens.size(), outputs_[*full].tokens.size());
}

TEST_F(EngineTest, SeededSamplingIsReproducibleAndBatchIndependent) {
  GenerationRequest r = request("The little dog was very happy because", 24);
  r.sampling.temperature = 0.9f;
  r.sampling.top_k = 40;
  r.sampling.top_p = 0.95f;
  r.sampling.seed = 1234;
  r.ignore_eos = true;
  auto e = make_engine();
  auto alone = e->submit(r);
  run(*e);
  const std::vector<int32_t> alone_tokens = outputs_[*alone].tokens;
  outputs_.clear();  // the second engine numbers its sequences from 1 again
  auto e2 = make_engine();
  auto other = e2->submit(request("One day, a big red ball", 30));
  absorb(e2->step());
  auto batched = e2->submit(r);
  auto other2 = e2->submit(request("She looked at the sky and said", 10));
  ASSERT_TRUE(other.ok() && other2.ok());
  run(*e2);
  EXPECT_EQ(alone_tokens.size(), 24u);
  EXPECT_EQ(alone_tokens, outputs_[*batched].tokens);
  r.sampling.seed = 999;
  auto different = e2->submit(r);
  run(*e2);
  EXPECT_NE(alone_tokens, outputs_[*different].tokens);
}

TEST_F(EngineTest, PrefixCacheServesRepeatedPrompt) {
  EngineConfig cfg;
  cfg.kv_block_tokens = 4;
  auto e = make_engine(cfg);
  const std::string prompt = "Lily and Tom went to the park. They saw";  // 15 tokens
  auto a = e->submit(request(prompt, 8));
  run(*e);
  auto b = e->submit(request(prompt, 8));
  run(*e);
  EXPECT_EQ(outputs_[*a].finish.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(outputs_[*b].finish.usage.cached_prompt_tokens, 12);
  EXPECT_EQ(outputs_[*a].tokens, outputs_[*b].tokens);
}

TEST_F(EngineTest, BatchTimeoutHoldsFirstRequest) {
  EngineConfig cfg;
  cfg.batch_timeout_ms = 20;
  cfg.max_batch_size = 4;
  auto e = make_engine(cfg);
  ASSERT_TRUE(e->submit(request("Once upon a time", 2)).ok());
  EXPECT_EQ(e->step().n_seqs, 0);
  clock_.advance_ms(25);
  EXPECT_EQ(e->step().n_seqs, 1);
}

TEST_F(EngineTest, RejectsInvalidRequests) {
  EngineConfig cfg;
  cfg.max_context = 16;
  auto e = make_engine(cfg);
  GenerationRequest r = request("", 4);
  r.add_bos = false;
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r = request("Once upon a time", 4);
  r.sampling.temperature = -1;
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r = request("Once upon a time", 4);
  r.sampling.top_p = 0;
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r.sampling.top_p = 1.5f;
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r = request("Once upon a time", 0);
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r = request("Once upon a time", 4);
  r.stop = {""};
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r = request("", 4);
  r.prompt_tokens = {1, 100000};
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r = request("Lily and Tom went to the park. They saw Lily and Tom went to the park.", 4);
  auto too_long = e->submit(r);
  EXPECT_EQ(too_long.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(too_long.status().message().find("max_context"), std::string::npos);
  EXPECT_FALSE(e->has_work());
  EngineConfig bad;
  bad.max_batch_size = 0;
  EXPECT_FALSE(Engine::create(model_, bad).ok());
  EngineConfig too_long_ctx;
  too_long_ctx.max_context = model_->config().context_length + 1;
  EXPECT_EQ(Engine::create(model_, too_long_ctx).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, EmptyTextWithBosGenerates) {
  auto e = make_engine();
  auto id = e->submit(request("", 3));
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  run(*e);
  EXPECT_EQ(outputs_[*id].finish.usage.prompt_tokens, 1);
  EXPECT_TRUE(outputs_[*id].finished);
}

TEST_F(EngineTest, GeneratesUntilContextEnd) {
  EngineConfig cfg;
  cfg.max_context = 12;
  auto e = make_engine(cfg);
  GenerationRequest r = request("Once upon a time", 100);
  r.ignore_eos = true;
  auto id = e->submit(r);
  ASSERT_TRUE(id.ok());
  run(*e);
  EXPECT_EQ(outputs_[*id].finish.reason, FinishReason::kLength);
  EXPECT_EQ(outputs_[*id].tokens.size(), 7u);  // 5 + 7 = 12
}

}  // namespace
}  // namespace rs::engine
