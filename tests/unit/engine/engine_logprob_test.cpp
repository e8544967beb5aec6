// TokenEvent::logprob on stories260K: the log-softmax of the raw logits at the chosen
// token, checked against a direct forward pass, and identical whatever the batch.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "rs/engine/engine.h"
#include "rs/engine/thread_pool.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

struct LogprobRun {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
};

// log-softmax at `token`, in double, straight from the definition.
double direct_log_softmax(const std::vector<float>& logits, int32_t token) {
  double max_logit = -INFINITY;
  for (float l : logits) max_logit = std::max(max_logit, static_cast<double>(l));
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max_logit);
  return static_cast<double>(logits[static_cast<size_t>(token)]) - max_logit - std::log(sum);
}

class EngineLogprobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test::model_path("stories260K.gguf");
    RS_REQUIRE_FILE(path);
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = *m;
  }

  std::unique_ptr<Engine> make_engine() {
    EngineConfig cfg;
    cfg.max_context = 128;
    cfg.n_threads = 1;
    cfg.clock = &clock_;
    auto e = Engine::create(model_, cfg);
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    return e.ok() ? std::move(*e) : nullptr;
  }

  std::map<SeqId, LogprobRun> run(Engine& e) {
    std::map<SeqId, LogprobRun> out;
    for (int i = 0; i < 1000 && e.has_work(); ++i) {
      StepResult r = e.step();
      for (const TokenEvent& t : r.tokens) {
        out[t.seq].tokens.push_back(t.token);
        out[t.seq].logprobs.push_back(t.logprob);
      }
      clock_.advance_ms(1);
    }
    EXPECT_FALSE(e.has_work());
    return out;
  }

  static GenerationRequest request(const std::string& prompt, int max_tokens, float temperature) {
    GenerationRequest r;
    r.prompt = prompt;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    r.sampling.temperature = temperature;
    r.sampling.top_k = 40;
    r.sampling.top_p = 0.9f;
    r.sampling.seed = 77;
    return r;
  }

  // The logits after each prefix of prompt + generated[0..i), from Model::forward alone:
  // the prompt in one slice, then one token per call (as the engine decodes).
  std::vector<std::vector<float>> direct_logits(const std::vector<int32_t>& prompt,
                                                const std::vector<int32_t>& generated) {
    KvCache kv(model_->kv_config(16, 32));
    ThreadPool pool(1);
    ModelWorkspace ws;
    std::vector<BlockId> blocks;
    std::vector<std::vector<float>> rows;
    int32_t pos = 0;
    auto feed = [&](std::span<const int32_t> tokens) {
      while (static_cast<int>(blocks.size()) <
             kv.blocks_for(pos + static_cast<int64_t>(tokens.size()))) {
        blocks.push_back(*kv.allocate());
      }
      ForwardSeq f{.tokens = tokens, .pos0 = pos, .blocks = blocks};
      std::vector<float> logits;
      Status s = model_->forward(std::span(&f, 1), kv, pool, ws, &logits);
      EXPECT_TRUE(s.ok()) << s.to_string();
      rows.push_back(std::move(logits));
      pos += static_cast<int32_t>(tokens.size());
    };
    feed(prompt);
    for (size_t i = 0; i + 1 < generated.size(); ++i) feed(std::span(&generated[i], 1));
    return rows;
  }

  std::shared_ptr<const Model> model_;
  ManualClock clock_;
};

TEST_F(EngineLogprobTest, GreedyLogprobIsLogSoftmaxOfTheLogits) {
  const std::string prompt = "Once upon a time";
  auto e = make_engine();
  auto id = e->submit(request(prompt, 10, 0.0f));
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  const LogprobRun got = run(*e)[*id];
  ASSERT_EQ(got.tokens.size(), 10u);

  const std::vector<int32_t> prompt_tokens = model_->tokenizer().encode(prompt, true);
  const auto rows = direct_logits(prompt_tokens, got.tokens);
  ASSERT_EQ(rows.size(), got.tokens.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::vector<float>& row = rows[i];
    ASSERT_EQ(row.size(), static_cast<size_t>(model_->config().n_vocab));
    const auto best = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    EXPECT_EQ(got.tokens[i], best) << "token " << i;
    EXPECT_TRUE(std::isfinite(got.logprobs[i])) << "token " << i;
    EXPECT_LE(got.logprobs[i], 0.0f) << "token " << i;
    EXPECT_NEAR(got.logprobs[i], direct_log_softmax(row, got.tokens[i]), 1e-4) << "token " << i;
  }
}

// Greedy and sampled: the same logprobs, bit for bit, alone and among other sequences
// that join and leave around it.
TEST_F(EngineLogprobTest, SoloAndBatchedRunsGiveIdenticalLogprobs) {
  for (float temperature : {0.0f, 0.8f}) {
    const GenerationRequest r = request("The little dog was very happy because", 16, temperature);
    auto solo_engine = make_engine();
    auto solo = solo_engine->submit(r);
    ASSERT_TRUE(solo.ok());
    const LogprobRun alone = run(*solo_engine)[*solo];

    auto e = make_engine();
    auto first = e->submit(request("One day, a big red ball", 30, 0.5f));
    ASSERT_TRUE(first.ok());
    (void)e->step();
    auto batched = e->submit(r);
    auto last = e->submit(request("She looked at the sky and said", 6, 0.0f));
    ASSERT_TRUE(batched.ok() && last.ok());
    const LogprobRun together = run(*e)[*batched];

    ASSERT_EQ(alone.tokens.size(), 16u);
    EXPECT_EQ(alone.tokens, together.tokens) << "temperature " << temperature;
    EXPECT_EQ(alone.logprobs, together.logprobs) << "temperature " << temperature;
    for (float lp : alone.logprobs) {
      EXPECT_TRUE(std::isfinite(lp));
      EXPECT_LE(lp, 0.0f);
    }
  }
}

}  // namespace
}  // namespace rs::engine
