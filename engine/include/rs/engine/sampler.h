// Sampler: picks the next token from logits under one request's sampling parameters.
// Its random draws come from a counter-based stream: the draw for completion token i is
// a pure function of (seed, i), so a resumed job samples on exactly where its log ends.
// One Sampler per sequence, used by the engine thread; sample_uniform is pure (any thread).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace rs::engine {

struct SamplingParams {
  float temperature = 0.0f;        // <= 0: greedy (argmax)
  int top_k = 0;                   // 0: off
  float top_p = 1.0f;              // 1: off
  float min_p = 0.0f;              // 0: off
  float repetition_penalty = 1.0f; // 1: off (llama.cpp/CTRL style, over the last repeat_last_n)
  int repeat_last_n = 64;
  std::optional<uint64_t> seed;    // absent: a random seed, chosen once per Sampler
};

// One alternative at a position: a token id and ln p(token) under the raw logits.
struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  bool operator==(const TokenLogprob&) const = default;
};

constexpr int kMaxTopLogprobs = 20;  // alternatives per position, at most

// The log-softmax of one row of raw logits: its maximum and the log of the sum of
// exp(logit - max), summed in double in a fixed order (log_sum_exp_f32), so the values depend only on the row
// (batch-invariant). logprob(t) = (logits[t] - max) - log_sum.
struct LogSoftmax {
  float max_logit = 0;
  double log_sum = 0;
  static LogSoftmax of(std::span<const float> logits);
  float logprob(std::span<const float> logits, int32_t token) const;
};

// The n most likely tokens of a row (n clamped to [0, min(kMaxTopLogprobs, row size)]),
// by logprob descending, ties by id ascending, into *out (cleared first).
void top_logprobs(std::span<const float> logits, const LogSoftmax& norm, int n,
                  std::vector<TokenLogprob>* out);

// The uniform draw in [0, 1) (53 bits) of completion token `index` under `seed`: SplitMix64's
// output number index + 1 from a state keyed by a hash of the seed. Depends on nothing else.
double sample_uniform(uint64_t seed, uint64_t index);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // history: the tokens so far (prompt + generated) for the repetition penalty.
  // index: 0-based position of the token among the completion tokens (its random draw is
  // sample_uniform(seed(), index)). logprob (optional): log-softmax of the raw logits at
  // the chosen token.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history, int index,
                 float* logprob);
  const SamplingParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }  // the request's seed, else the one chosen

 private:
  SamplingParams params_;
  uint64_t seed_ = 0;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace rs::engine
