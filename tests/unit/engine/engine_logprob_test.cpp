// TokenEvent::logprob and ::top, and prompt logprobs, on stories260K: the log-softmax of
// the raw logits, checked against a direct (teacher-forced) forward pass, and identical
// whatever the batch, the prefill chunking, the prefix cache or a resume from the log.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <optional>
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
  std::vector<std::vector<TokenLogprob>> tops;
  std::vector<PromptLogprob> prompt;
  int n_prompt_events = 0;
  std::optional<FinishReason> reason;
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

  std::unique_ptr<Engine> make_engine(int max_batch_tokens = 512, int kv_blocks = 0) {
    EngineConfig cfg;
    cfg.max_batch_tokens = max_batch_tokens;
    cfg.kv_blocks = kv_blocks;
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
      for (const PromptLogprobsEvent& p : r.prompt_logprobs) {
        EXPECT_TRUE(out[p.seq].tokens.empty()) << "prompt logprobs after a token";
        out[p.seq].prompt = p.positions;
        ++out[p.seq].n_prompt_events;
      }
      for (const TokenEvent& t : r.tokens) {
        out[t.seq].tokens.push_back(t.token);
        out[t.seq].logprobs.push_back(t.logprob);
        out[t.seq].tops.push_back(t.top);
      }
      for (const FinishEvent& f : r.finished) out[f.seq].reason = f.reason;
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
    KvCache kv(model_->kv_config(16, 32, EngineConfig{}.kv_cache_type));  // as the engine stores K/V
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

namespace rs::engine {
namespace {

class EnginePromptLogprobTest : public EngineLogprobTest {
 protected:
  // Teacher forcing, one token per forward call: rows[i] is the logits after tokens[0..i].
  std::vector<std::vector<float>> teacher_forced(const std::vector<int32_t>& tokens) {
    std::vector<int32_t> first(tokens.begin(), tokens.begin() + 1);
    std::vector<int32_t> rest(tokens.begin() + 1, tokens.end());
    rest.push_back(0);  // direct_logits feeds all but the last "generated" token
    return direct_logits(first, rest);
  }

  // The n best (token, logprob) of a row, from the definition (logprob desc, id asc).
  static std::vector<std::pair<int32_t, double>> direct_top(const std::vector<float>& row, int n) {
    std::vector<std::pair<int32_t, double>> all;
    for (size_t t = 0; t < row.size(); ++t) {
      all.emplace_back(static_cast<int32_t>(t), direct_log_softmax(row, static_cast<int32_t>(t)));
    }
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    all.resize(static_cast<size_t>(n));
    return all;
  }

  static void expect_top_matches(const std::vector<TokenLogprob>& got, const std::vector<float>& row,
                                 int n, const std::string& where) {
    const auto want = direct_top(row, n);
    ASSERT_EQ(got.size(), want.size()) << where;
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].token, want[k].first) << where << " alternative " << k;
      EXPECT_NEAR(got[k].logprob, want[k].second, 1e-4) << where << " alternative " << k;
      if (k > 0) {
        EXPECT_TRUE(got[k - 1].logprob > got[k].logprob ||
                    (got[k - 1].logprob == got[k].logprob && got[k - 1].token < got[k].token))
            << where;
      }
    }
  }

  static GenerationRequest scoring(const std::string& prompt, int max_tokens, int n_top) {
    GenerationRequest r = request(prompt, max_tokens, 0.0f);
    r.prompt_logprobs = n_top;
    r.top_logprobs = n_top;
    return r;
  }
};

const char* const kScoredPrompt = "Once upon a time, there was a little girl named Lily. She loved to play";

TEST_F(EnginePromptLogprobTest, PromptLogprobsAreTheTeacherForcedLogSoftmax) {
  auto e = make_engine();
  auto id = e->submit(scoring(kScoredPrompt, 0, 5));
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  const LogprobRun got = run(*e)[*id];
  EXPECT_TRUE(got.tokens.empty());  // max_tokens 0: scoring only
  ASSERT_TRUE(got.reason.has_value());
  EXPECT_EQ(*got.reason, FinishReason::kLength);
  EXPECT_EQ(got.n_prompt_events, 1);

  const std::vector<int32_t> prompt = model_->tokenizer().encode(kScoredPrompt, true);
  ASSERT_EQ(got.prompt.size(), prompt.size() - 1);
  const auto rows = teacher_forced(prompt);
  for (size_t p = 1; p < prompt.size(); ++p) {
    const PromptLogprob& lp = got.prompt[p - 1];
    const std::string where = "position " + std::to_string(p);
    EXPECT_EQ(lp.token, prompt[p]) << where;
    EXPECT_NEAR(lp.logprob, direct_log_softmax(rows[p - 1], prompt[p]), 1e-4) << where;
    expect_top_matches(lp.top, rows[p - 1], 5, where);
  }
}

TEST_F(EnginePromptLogprobTest, TopLogprobsOfGeneratedTokensAreTheRawLogSoftmax) {
  const std::string prompt = "The little dog";
  auto e = make_engine();
  GenerationRequest r = request(prompt, 8, 0.8f);
  r.top_logprobs = 20;
  auto id = e->submit(r);
  ASSERT_TRUE(id.ok());
  const LogprobRun got = run(*e)[*id];
  ASSERT_EQ(got.tokens.size(), 8u);
  EXPECT_EQ(got.n_prompt_events, 0);
  const auto rows = direct_logits(model_->tokenizer().encode(prompt, true), got.tokens);
  for (size_t i = 0; i < got.tokens.size(); ++i) {
    expect_top_matches(got.tops[i], rows[i], 20, "token " + std::to_string(i));
    for (const TokenLogprob& alt : got.tops[i]) {
      if (alt.token == got.tokens[i]) {
        EXPECT_EQ(alt.logprob, got.logprobs[i]);  // one formula
      }
    }
  }
}

// Chunked prefill (4 tokens a step), other sequences in the batch, and a warm prefix cache
// holding the same prompt: the same prompt and token logprobs, bit for bit.
TEST_F(EnginePromptLogprobTest, BatchChunkingAndPrefixCacheDoNotChangeThem) {
  const GenerationRequest r = scoring(kScoredPrompt, 6, 3);
  auto solo_engine = make_engine();
  auto solo = solo_engine->submit(r);
  ASSERT_TRUE(solo.ok());
  const LogprobRun alone = run(*solo_engine)[*solo];
  ASSERT_EQ(alone.tokens.size(), 6u);

  auto e = make_engine(4);
  ASSERT_TRUE(e->submit(request(kScoredPrompt, 3, 0.0f)).ok());  // publishes the prefix
  (void)run(*e);
  auto first = e->submit(request("One day, a big red ball", 30, 0.5f));
  ASSERT_TRUE(first.ok());
  (void)e->step();
  auto batched = e->submit(r);
  ASSERT_TRUE(batched.ok());
  const LogprobRun together = run(*e)[*batched];
  EXPECT_EQ(together.n_prompt_events, 1);
  EXPECT_EQ(alone.prompt, together.prompt);
  EXPECT_EQ(alone.tokens, together.tokens);
  EXPECT_EQ(alone.logprobs, together.logprobs);
  EXPECT_EQ(alone.tops, together.tops);
}

// A job resumed from its log after 3 tokens: the same prompt logprobs and, from index 3 on,
// the same tokens and alternatives as the uninterrupted run.
TEST_F(EnginePromptLogprobTest, ResumedJobGivesTheSameLogprobs) {
  const GenerationRequest r = scoring(kScoredPrompt, 8, 4);
  auto e = make_engine();
  auto full_id = e->submit(r);
  ASSERT_TRUE(full_id.ok());
  const LogprobRun full = run(*e)[*full_id];
  ASSERT_EQ(full.tokens.size(), 8u);

  GenerationRequest resumed = r;
  resumed.resume_tokens.assign(full.tokens.begin(), full.tokens.begin() + 3);
  auto e2 = make_engine(8);
  auto id = e2->submit(resumed);
  ASSERT_TRUE(id.ok());
  const LogprobRun rest = run(*e2)[*id];
  EXPECT_EQ(rest.prompt, full.prompt);
  ASSERT_EQ(rest.tokens.size(), 5u);
  EXPECT_EQ(rest.tokens, std::vector<int32_t>(full.tokens.begin() + 3, full.tokens.end()));
  EXPECT_EQ(rest.logprobs, std::vector<float>(full.logprobs.begin() + 3, full.logprobs.end()));
  EXPECT_EQ(rest.tops, std::vector<std::vector<TokenLogprob>>(full.tops.begin() + 3, full.tops.end()));
}

// A batch sequence preempted in the middle of its chunked prefill (an interactive one needs
// the whole pool) is recomputed later: the positions it had are not collected twice, and
// the event equals the uninterrupted run's.
TEST_F(EnginePromptLogprobTest, APreemptionInThePrefillKeepsThemExact) {
  GenerationRequest r = scoring(kScoredPrompt, 4, 2);
  r.priority = Priority::kBatch;
  auto solo_engine = make_engine();
  auto solo = solo_engine->submit(r);
  ASSERT_TRUE(solo.ok());
  const LogprobRun alone = run(*solo_engine)[*solo];

  auto e = make_engine(4, 3);  // 4 tokens a step, 3 blocks of 16 positions
  auto batch = e->submit(r);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  (void)e->step();
  (void)e->step();  // 8 of its prompt positions computed
  GenerationRequest big = request(std::string(kScoredPrompt) + " with her friends in the park", 8, 0.0f);
  ASSERT_TRUE(e->submit(big).ok());
  const LogprobRun preempted = run(*e)[*batch];
  EXPECT_GT(e->n_preemptions(), 0);
  EXPECT_EQ(preempted.n_prompt_events, 1);
  EXPECT_EQ(preempted.prompt, alone.prompt);
  EXPECT_EQ(preempted.tokens, alone.tokens);
  EXPECT_EQ(preempted.tops, alone.tops);
}

TEST_F(EnginePromptLogprobTest, OneTokenPromptHasAnEmptyEvent) {
  auto e = make_engine();
  GenerationRequest r = scoring("", 0, 2);
  r.prompt_tokens = {model_->tokenizer().bos()};
  auto id = e->submit(r);
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  const LogprobRun got = run(*e)[*id];
  EXPECT_EQ(got.n_prompt_events, 1);
  EXPECT_TRUE(got.prompt.empty());
  EXPECT_TRUE(got.tokens.empty());
}

TEST_F(EnginePromptLogprobTest, BadValuesAreRejected) {
  auto e = make_engine();
  GenerationRequest r = request("Hi", 0, 0.0f);
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);  // 0 needs prompt logprobs
  r.max_tokens = -1;
  r.prompt_logprobs = 0;
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r.max_tokens = 4;
  r.prompt_logprobs = kMaxTopLogprobs + 1;
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r.prompt_logprobs.reset();
  r.top_logprobs = kMaxTopLogprobs + 1;
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
  r.top_logprobs = -1;
  EXPECT_EQ(e->submit(r).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rs::engine
