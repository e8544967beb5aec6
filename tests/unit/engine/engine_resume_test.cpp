// Resume from the log (GenerationRequest::resume_tokens): a run given the first k tokens of
// an uninterrupted run emits exactly that run's events from index k on (ids, pieces,
// logprobs, finish reason, usage), greedy and seeded, with stop strings and max_tokens, alone
// or in a batch, through chunked prefill, the prefix cache and preemption.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rs/engine/engine.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

struct ResumeTrace {
  std::vector<TokenEvent> events;
  std::optional<FinishEvent> finish;

  std::vector<int32_t> tokens() const {
    std::vector<int32_t> ids;
    for (const TokenEvent& e : events) ids.push_back(e.token);
    return ids;
  }
  std::string text() const {
    std::string s;
    for (const TokenEvent& e : events) s += e.piece;
    return s;
  }
};

GenerationRequest resume_request(const std::string& prompt, int max_tokens) {
  GenerationRequest r;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  return r;
}

GenerationRequest with_resume(GenerationRequest r, const ResumeTrace& full, size_t k) {
  const std::vector<int32_t> ids = full.tokens();
  r.resume_tokens.assign(ids.begin(),
                         ids.begin() + static_cast<std::ptrdiff_t>(std::min(k, ids.size())));
  return r;
}

// Every cut for short runs, else 0, 1, the middle, n - 1 and n.
std::vector<size_t> cut_points(size_t n, bool every) {
  std::vector<size_t> cuts;
  if (every) {
    for (size_t k = 0; k <= n; ++k) cuts.push_back(k);
    return cuts;
  }
  cuts = {0, std::min<size_t>(1, n), n / 2, n > 0 ? n - 1 : 0, n};
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

class EngineResumeTest : public ::testing::Test {
 protected:
  void load(const std::string& file) {
    const std::string path = test::model_path(file);
    RS_REQUIRE_FILE(path);
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = *m;
  }
  void SetUp() override { load("stories260K.gguf"); }

  std::unique_ptr<Engine> make(EngineConfig cfg = {}) {
    if (cfg.max_context == 0) cfg.max_context = 128;
    if (cfg.n_threads == 0) cfg.n_threads = 1;
    cfg.clock = &clock_;
    auto e = Engine::create(model_, cfg);
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    return e.ok() ? std::move(*e) : nullptr;
  }

  // Steps until the engine is idle; every sequence's events and end.
  std::map<SeqId, ResumeTrace> drain(Engine& e) {
    std::map<SeqId, ResumeTrace> out;
    for (int i = 0; i < 5000 && e.has_work(); ++i) {
      StepResult r = e.step();
      for (TokenEvent& t : r.tokens) out[t.seq].events.push_back(std::move(t));
      for (FinishEvent& f : r.finished) {
        EXPECT_FALSE(out[f.seq].finish.has_value()) << "sequence " << f.seq << " ended twice";
        out[f.seq].finish = f;
      }
      clock_.advance_ms(1);
    }
    EXPECT_FALSE(e.has_work());
    EXPECT_EQ(e.kv_free_blocks(), e.kv_total_blocks());
    return out;
  }

  // One request alone on a fresh engine.
  ResumeTrace run(const GenerationRequest& r, EngineConfig cfg = {}) {
    auto e = make(cfg);
    if (e == nullptr) return {};
    auto id = e->submit(r);
    EXPECT_TRUE(id.ok()) << id.status().to_string();
    if (!id.ok()) return {};
    return drain(*e)[*id];
  }

  // `resumed` (given the first k tokens of `full`) equals `full` from index k on.
  static void expect_tail(const ResumeTrace& full, size_t k, const ResumeTrace& resumed) {
    SCOPED_TRACE("cut at k=" + std::to_string(k) + " of " + std::to_string(full.events.size()));
    ASSERT_TRUE(full.finish.has_value());
    ASSERT_TRUE(resumed.finish.has_value());
    ASSERT_EQ(resumed.events.size(), full.events.size() - k);
    for (size_t i = 0; i < resumed.events.size(); ++i) {
      const TokenEvent& a = full.events[k + i];
      const TokenEvent& b = resumed.events[i];
      EXPECT_EQ(b.index, a.index) << i;
      EXPECT_EQ(b.index, static_cast<int>(k + i));
      EXPECT_EQ(b.token, a.token) << "index " << a.index;
      EXPECT_EQ(b.piece, a.piece) << "index " << a.index;
      EXPECT_NEAR(b.logprob, a.logprob, 1e-5) << "index " << a.index;
    }
    EXPECT_EQ(resumed.finish->reason, full.finish->reason);
    EXPECT_EQ(resumed.finish->usage.completion_tokens, full.finish->usage.completion_tokens);
    EXPECT_EQ(resumed.finish->usage.prompt_tokens, full.finish->usage.prompt_tokens);
  }

  // Runs r uninterrupted, then resumed at each cut point; returns the uninterrupted run.
  ResumeTrace check_cuts(const GenerationRequest& r, bool every_cut, EngineConfig cfg = {}) {
    const ResumeTrace full = run(r, cfg);
    EXPECT_FALSE(full.events.empty());
    for (size_t k : cut_points(full.events.size(), every_cut)) {
      expect_tail(full, k, run(with_resume(r, full, k), cfg));
    }
    return full;
  }

  std::shared_ptr<const Model> model_;
  ManualClock clock_;
};

TEST_F(EngineResumeTest, GreedyEqualsUninterruptedAtEveryCut) {
  GenerationRequest r = resume_request("Once upon a time", 24);
  r.ignore_eos = true;
  const ResumeTrace full = check_cuts(r, true);
  EXPECT_EQ(full.finish->reason, FinishReason::kLength);
  EXPECT_EQ(full.events.size(), 24u);
}

TEST_F(EngineResumeTest, SeededTopKTopPEqualsUninterruptedAtEveryCut) {
  GenerationRequest r = resume_request("The little dog was very happy because", 28);
  r.sampling.temperature = 0.8f;
  r.sampling.top_k = 40;
  r.sampling.top_p = 0.9f;
  r.sampling.seed = 42;
  r.ignore_eos = true;
  check_cuts(r, true);
}

TEST_F(EngineResumeTest, RepetitionPenaltyEqualsUninterrupted) {
  GenerationRequest r = resume_request("Lily and Tom went to the park. They saw", 30);
  r.sampling.temperature = 0.8f;
  r.sampling.top_p = 0.95f;
  r.sampling.repetition_penalty = 1.3f;
  r.sampling.repeat_last_n = 16;
  r.sampling.seed = 7;
  r.ignore_eos = true;
  check_cuts(r, true);
  // Greedy with the penalty (its history spans the cut: prompt + resumed tokens).
  r.sampling.temperature = 0.0f;
  r.sampling.repetition_penalty = 1.5f;
  check_cuts(r, false);
}

// One stop string that hits in the middle of the output and one that only ever matches in
// part (its first bytes occur early): that text is held back and released with a later
// token, so some cut points fall while text is held.
TEST_F(EngineResumeTest, StopStringsEqualUninterruptedAtEveryCut) {
  for (float temperature : {0.0f, 0.8f}) {
    SCOPED_TRACE("temperature " + std::to_string(temperature));
    GenerationRequest r = resume_request("Once upon a time", 40);
    r.sampling.temperature = temperature;
    r.sampling.top_k = 30;
    r.sampling.seed = 5;
    r.ignore_eos = true;
    const std::string text = run(r).text();
    ASSERT_GT(text.size(), 40u);
    const std::string hit = text.substr(text.size() / 2, 4);
    r.stop = {text.substr(3, 3) + "\x01never", hit};
    const ResumeTrace full = check_cuts(r, true);
    EXPECT_EQ(full.finish->reason, FinishReason::kStop);
    EXPECT_EQ(full.text(), text.substr(0, text.find(hit)));
    // The held-back part of the first stop string shows: some token released no text.
    EXPECT_TRUE(std::any_of(full.events.begin(), full.events.end(),
                            [](const TokenEvent& e) { return e.piece.empty(); }));
  }
}

TEST_F(EngineResumeTest, MaxTokensReachedByResumedTokensEndsAtOnce) {
  GenerationRequest r = resume_request("Once upon a time", 6);
  r.ignore_eos = true;
  const ResumeTrace full = run(r);
  ASSERT_EQ(full.events.size(), 6u);
  expect_tail(full, 6, run(with_resume(r, full, 6)));
  // More resumed tokens than max_tokens: it ends at max_tokens, still "length".
  GenerationRequest more = resume_request("Once upon a time", 4);
  more.ignore_eos = true;
  more.resume_tokens = full.tokens();
  const ResumeTrace over = run(more);
  ASSERT_TRUE(over.finish.has_value());
  EXPECT_TRUE(over.events.empty());
  EXPECT_EQ(over.finish->reason, FinishReason::kLength);
  EXPECT_EQ(over.finish->usage.completion_tokens, 4);
}

TEST_F(EngineResumeTest, EosAmongResumedTokensEndsAtOnce) {
  const int32_t eos = model_->tokenizer().eos();
  ASSERT_GE(eos, 0);
  GenerationRequest r = resume_request("Once upon a time", 20);
  r.ignore_eos = true;
  const ResumeTrace full = run(r);
  ASSERT_GE(full.events.size(), 5u);
  GenerationRequest ended = with_resume(r, full, 3);
  ended.ignore_eos = false;
  ended.resume_tokens.push_back(eos);
  ended.resume_tokens.push_back(full.events[4].token);  // after the end: never counted
  const ResumeTrace t = run(ended);
  ASSERT_TRUE(t.finish.has_value());
  EXPECT_TRUE(t.events.empty());
  EXPECT_EQ(t.finish->reason, FinishReason::kEos);
  EXPECT_EQ(t.finish->usage.completion_tokens, 4);
  // Under ignore_eos the same token is text like any other and the job goes on.
  ended.ignore_eos = true;
  const ResumeTrace on = run(ended);
  ASSERT_FALSE(on.events.empty());
  EXPECT_EQ(on.events.front().index, 5);
}

// A random-weight model with stories260K's vocabulary samples its byte-fallback tokens
// (<0xD0>, <0xE1> ...), which split UTF-8 characters: the detokenizer holds their bytes
// back (and later releases them, or U+FFFD), across cut points too.
TEST_F(EngineResumeTest, SplitUtf8PiecesEqualUninterrupted) {
  load("llama-spm-tied-f32.gguf");
  GenerationRequest r = resume_request("Hello world", 48);
  r.sampling.temperature = 2.5f;
  r.sampling.seed = 11;
  r.ignore_eos = true;
  const ResumeTrace full = check_cuts(r, true);
  const Tokenizer& tok = model_->tokenizer();
  const auto held = std::count_if(full.events.begin(), full.events.end(), [&](const TokenEvent& e) {
    const std::string piece = tok.piece(e.token);
    return e.piece.empty() && !piece.empty() && static_cast<unsigned char>(piece[0]) >= 0x80;
  });
  EXPECT_GT(held, 0)
      << "no token ended inside a UTF-8 character: the test covers less than it says";
}

// Resumed sequences batched with each other and with unrelated ones, their prompt and
// resumed tokens prefilled in chunks of 8 and partly served from the prefix cache.
TEST_F(EngineResumeTest, BatchedChunkedAndCachedEqualUninterrupted) {
  GenerationRequest r = resume_request("Lily and Tom went to the park. They saw", 30);
  r.sampling.temperature = 0.8f;
  r.sampling.top_k = 40;
  r.sampling.seed = 99;
  r.ignore_eos = true;
  r.stop = {"\x01never"};
  const ResumeTrace full = run(r);
  ASSERT_EQ(full.events.size(), 30u);
  EngineConfig cfg;
  cfg.max_batch_tokens = 8;
  cfg.kv_block_tokens = 4;
  auto e = make(cfg);
  auto warm =
      e->submit(resume_request("Lily and Tom went to the park. They saw", 3));  // caches the prompt
  ASSERT_TRUE(warm.ok());
  drain(*e);
  std::map<SeqId, size_t> cuts;
  std::vector<SeqId> others;
  for (size_t k : {0, 1, 9, 17, 29, 30}) {
    auto other = e->submit(resume_request("One day, a big red ball", 12));
    auto id = e->submit(with_resume(r, full, k));
    ASSERT_TRUE(id.ok() && other.ok());
    cuts[*id] = k;
    others.push_back(*other);
  }
  std::map<SeqId, ResumeTrace> out = drain(*e);
  for (const auto& [id, k] : cuts) {
    expect_tail(full, k, out[id]);
    if (k < 30) {
      EXPECT_GT(out[id].finish->usage.cached_prompt_tokens, 0) << k;
    }
  }
  for (SeqId id : others) EXPECT_EQ(out[id].finish->usage.completion_tokens, 12);
}

// A pool so small that resumed sequences are preempted and recomputed (prompt + resumed +
// generated tokens) on readmission.
TEST_F(EngineResumeTest, PreemptedResumedSequencesEqualUninterrupted) {
  GenerationRequest r = resume_request("Once upon a time", 40);
  r.sampling.temperature = 0.8f;
  r.sampling.top_p = 0.9f;
  r.sampling.seed = 3;
  r.ignore_eos = true;
  const ResumeTrace full = run(r);
  EngineConfig cfg;
  cfg.kv_block_tokens = 4;
  cfg.kv_blocks = 24;  // 96 positions for three sequences of up to 45
  cfg.prefix_cache = false;
  auto e = make(cfg);
  std::map<SeqId, size_t> cuts;
  for (size_t k : {0, 5, 20}) {
    auto id = e->submit(with_resume(r, full, k));
    ASSERT_TRUE(id.ok()) << id.status().to_string();
    cuts[*id] = k;
  }
  std::map<SeqId, ResumeTrace> out = drain(*e);
  EXPECT_GT(e->n_preemptions(), 0);
  for (const auto& [id, k] : cuts) expect_tail(full, k, out[id]);
}

TEST_F(EngineResumeTest, UsageCountsResumedTokens) {
  GenerationRequest r = resume_request("Once upon a time", 10);
  r.ignore_eos = true;
  const ResumeTrace full = run(r);
  clock_.advance_ms(10);
  const ResumeTrace resumed = run(with_resume(r, full, 4));
  ASSERT_TRUE(resumed.finish.has_value());
  const Usage& u = resumed.finish->usage;
  EXPECT_EQ(u.completion_tokens, 10);
  EXPECT_EQ(u.prompt_tokens, full.finish->usage.prompt_tokens);
  EXPECT_NEAR(u.decode_tps, 1000.0, 1e-6);  // the 6 emitted tokens, one per 1 ms step
}

TEST_F(EngineResumeTest, RejectsResumeTokensOutsideTheVocabulary) {
  auto e = make();
  for (int32_t bad : {-1, model_->config().n_vocab, 1 << 30}) {
    GenerationRequest r = resume_request("Once upon a time", 8);
    r.resume_tokens = {5, bad};
    auto id = e->submit(r);
    ASSERT_FALSE(id.ok()) << bad;
    EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(id.status().message().find("resume token id"), std::string::npos)
        << id.status().to_string();
  }
  EXPECT_FALSE(e->has_work());
}

}  // namespace
}  // namespace rs::engine
