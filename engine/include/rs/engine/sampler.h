// Sampler: picks the next token from logits under one request's sampling parameters.
// Deterministic for a given seed. One Sampler per sequence, used by the engine thread.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
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
  std::optional<uint64_t> seed;    // absent: a random seed
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // history: the tokens so far (prompt + generated) for the repetition penalty.
  // logprob (optional): log-softmax of the raw logits at the chosen token.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history, float* logprob);
  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace rs::engine
