// A randomized workload for the engine and device stress tests: requests over one model
// (prompts with shared prefixes, greedy and seeded sampling, stop strings, EOS honoured or
// not, both priorities), each with its solo result (alone on a fresh 1-thread engine), and
// the check that a churned run of the same request produced the same tokens, logprobs,
// text and end (batch invariance under churn). Test thread only.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "rs/engine/engine.h"

namespace rs::test {

// RS_STRESS_SECONDS (a positive number), else `fallback`: how long each stress test churns.
inline double stress_seconds(double fallback) {
  const char* v = std::getenv("RS_STRESS_SECONDS");
  if (v == nullptr || *v == '\0') return fallback;
  const double s = std::atof(v);
  return s > 0 ? s : fallback;
}

// RS_STRESS_SEED, else a fixed seed: a failing run is repeated with the seed it printed.
inline uint64_t stress_seed() {
  const char* v = std::getenv("RS_STRESS_SEED");
  return (v != nullptr && *v != '\0') ? std::strtoull(v, nullptr, 10) : 20261202;
}

struct ChurnCase {
  engine::GenerationRequest request;
  // The solo run.
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::string text;
  engine::FinishReason reason = engine::FinishReason::kEos;
};

// What a churned run of a case produced (logprobs: one per token, or none when the run's
// output does not carry them).
struct ChurnOutcome {
  size_t case_index = 0;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::string text;
  bool finished = false;
  engine::FinishReason reason = engine::FinishReason::kEos;
  std::string error;
};

namespace churn_detail {

inline const std::vector<std::string>& words() {
  static const std::vector<std::string> w = {
      "the",  "little", "dog",  "ran",    "to",   "park",  "and",    "saw",  "a",
      "big",  "red",    "ball", "she",    "was",  "happy", "sun",    "tree", "bird",
      "sang", "Lily",   "Tom",  "friend", "play", "cat",   "jumped", "over", "box",
      "mom",  "said",   "yes",  "they",   "went", "home",  "night"};
  return w;
}

inline const std::vector<std::string>& prefixes() {
  static const std::vector<std::string> p = {
      "Once upon a time, there was a little girl named Lily. She liked to",
      "One day, a big dog went to the park with his friend. They", "Tom had a red ball. He"};
  return p;
}

}  // namespace churn_detail

// n requests over `model`: about half start with one of a few shared prefixes (prefix
// cache hits), prompts are cut to at most max_prompt tokens, completions ask for 1 to
// max_tokens tokens.
inline std::vector<engine::GenerationRequest> churn_requests(const engine::Model& model,
                                                             uint64_t seed, int n, int max_prompt,
                                                             int max_tokens) {
  std::mt19937_64 rng(seed);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const auto& words = churn_detail::words();
  const auto& prefixes = churn_detail::prefixes();
  std::vector<engine::GenerationRequest> out;
  for (int i = 0; i < n; ++i) {
    std::string text = pick(0, 1) == 0 ? prefixes[static_cast<size_t>(pick(0, 2))] : "";
    const int n_words = pick(0, 24);
    for (int w = 0; w < n_words; ++w)
      text += (text.empty() ? "" : " ") + words[static_cast<size_t>(pick(0, 33))];
    if (text.empty()) text = "Hi";
    engine::GenerationRequest r;
    r.prompt_tokens = model.tokenizer().encode(text, true);
    if (r.prompt_tokens.empty()) r.prompt_tokens.push_back(0);
    if (static_cast<int>(r.prompt_tokens.size()) > max_prompt)
      r.prompt_tokens.resize(static_cast<size_t>(max_prompt));
    r.max_tokens = pick(1, max_tokens);
    r.ignore_eos = pick(0, 2) != 0;
    if (pick(0, 1) == 1) {
      r.sampling.temperature = 0.9f;
      r.sampling.top_k = pick(0, 1) == 0 ? 0 : 40;
      r.sampling.top_p = pick(0, 1) == 0 ? 1.0f : 0.9f;
      r.sampling.seed = rng();
    }
    if (pick(0, 4) == 0) r.stop = {" the", "."};
    r.priority = pick(0, 3) == 0 ? engine::Priority::kBatch : engine::Priority::kInteractive;
    out.push_back(std::move(r));
  }
  return out;
}

// Runs `request` alone on a fresh engine with one thread and the whole prompt in one
// chunk (no preemption, no company): the reference every churned run must equal.
inline Result<ChurnCase> solo_run(std::shared_ptr<const engine::Model> model,
                                  engine::GenerationRequest request, int max_context) {
  engine::EngineConfig cfg;
  cfg.n_threads = 1;
  cfg.max_batch_size = 1;
  cfg.max_context = max_context;
  cfg.max_batch_tokens = max_context;
  RS_ASSIGN_OR_RETURN(auto eng, engine::Engine::create(std::move(model), cfg));
  ChurnCase c;
  c.request = request;
  RS_ASSIGN_OR_RETURN(engine::SeqId id, eng->submit(std::move(request)));
  for (int step = 0; step < 100000 && eng->has_work(); ++step) {
    engine::StepResult r = eng->step();
    for (const engine::TokenEvent& t : r.tokens) {
      c.tokens.push_back(t.token);
      c.logprobs.push_back(t.logprob);
      c.text += t.piece;
    }
    for (const engine::FinishEvent& f : r.finished) {
      if (f.seq != id) continue;
      if (f.reason == engine::FinishReason::kError)
        return internal_error("solo run failed: " + f.error);
      c.reason = f.reason;
    }
  }
  if (eng->has_work()) return internal_error("solo run did not finish");
  return c;
}

// The solo results of `requests`.
inline Result<std::vector<ChurnCase>> solo_cases(std::shared_ptr<const engine::Model> model,
                                                 std::vector<engine::GenerationRequest> requests,
                                                 int max_context) {
  std::vector<ChurnCase> cases;
  for (engine::GenerationRequest& r : requests) {
    RS_ASSIGN_OR_RETURN(ChurnCase c, solo_run(model, std::move(r), max_context));
    cases.push_back(std::move(c));
  }
  return cases;
}

// "" when `got` agrees with its case: a cancelled run produced a prefix of the solo run,
// any other run all of it, with bit-identical logprobs (when it has them) and the same end.
inline std::string check_against_solo(const ChurnCase& want, const ChurnOutcome& got) {
  std::ostringstream why;
  if (!got.finished) return "never finished";
  if (got.reason == engine::FinishReason::kError) return "ended with an error: " + got.error;
  const bool cancelled = got.reason == engine::FinishReason::kCancelled;
  if (got.tokens.size() > want.tokens.size() ||
      (!cancelled && got.tokens.size() != want.tokens.size())) {
    why << got.tokens.size() << " tokens, solo run " << want.tokens.size();
    return why.str();
  }
  for (size_t i = 0; i < got.tokens.size(); ++i) {
    const bool logprob_differs =
        got.logprobs.size() == got.tokens.size() && got.logprobs[i] != want.logprobs[i];
    if (got.tokens[i] != want.tokens[i] || logprob_differs) {
      why << "token " << i << ": " << got.tokens[i];
      if (got.logprobs.size() == got.tokens.size()) why << " (logprob " << got.logprobs[i] << ")";
      why << ", solo run " << want.tokens[i] << " (logprob " << want.logprobs[i] << ")";
      return why.str();
    }
  }
  if (!cancelled && got.reason != want.reason) {
    return std::string("ended ") + engine::finish_reason_name(got.reason) + ", solo run " +
           engine::finish_reason_name(want.reason);
  }
  if (!cancelled && got.text != want.text)
    return "text \"" + got.text + "\", solo run \"" + want.text + "\"";
  return {};
}

}  // namespace rs::test
