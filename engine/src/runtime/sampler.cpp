// Sampler: repetition penalty -> temperature -> top-k -> top-p -> min-p -> sample.
#include "rs/engine/sampler.h"

#include "rs/engine/kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_set>

namespace rs::engine {
namespace {

using Candidate = std::pair<float, int32_t>;

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;  // SplitMix64's increment

// SplitMix64's finalizer (Stafford variant 13): a bijective 64-bit mix.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool by_logit_desc(const Candidate& a, const Candidate& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// log-softmax of the raw logits at `token`, given their maximum (the caller has it from
// its own pass).
float log_softmax_at(std::span<const float> logits, int32_t token) {
  return LogSoftmax::of(logits).logprob(logits, token);
}

// llama.cpp-style penalty, once per distinct token among the last repeat_last_n.
void apply_repetition_penalty(std::vector<Candidate>& cands, std::span<const int32_t> history,
                              float penalty, int repeat_last_n) {
  if (penalty == 1.0f || repeat_last_n == 0 || history.empty()) return;
  size_t n = history.size();
  if (repeat_last_n > 0) n = std::min(n, static_cast<size_t>(repeat_last_n));
  std::unordered_set<int32_t> seen;
  for (size_t i = history.size() - n; i < history.size(); ++i) {
    int32_t id = history[i];
    if (id < 0 || static_cast<size_t>(id) >= cands.size() || !seen.insert(id).second) continue;
    float& l = cands[static_cast<size_t>(id)].first;  // cands is still indexed by id here
    l = l > 0 ? l / penalty : l * penalty;
  }
}

// Sorts (at least) the prefix of cands that holds top_p of the probability mass and
// truncates after it. cands must be non-empty.
void apply_top_p(std::vector<Candidate>& cands, float top_p, bool sorted) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const auto& c : cands) max_logit = std::max(max_logit, c.first);
  double total = 0;
  for (const auto& c : cands) total += static_cast<double>(std::exp(c.first - max_logit));
  size_t m = sorted ? cands.size() : std::min<size_t>(cands.size(), 256);
  size_t done = 0;  // prefix [0, done) is sorted and accounted in cum
  double cum = 0;
  while (true) {
    if (!sorted) {
      std::partial_sort(cands.begin() + static_cast<std::ptrdiff_t>(done),
                        cands.begin() + static_cast<std::ptrdiff_t>(m), cands.end(), by_logit_desc);
    }
    for (size_t i = done; i < m; ++i) {
      cum += static_cast<double>(std::exp(cands[i].first - max_logit)) / total;
      if (cum >= static_cast<double>(top_p)) {
        cands.resize(i + 1);
        return;
      }
    }
    if (m == cands.size()) return;
    done = m;
    m = std::min(cands.size(), m * 4);
  }
}

void apply_min_p(std::vector<Candidate>& cands, float min_p) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const auto& c : cands) max_logit = std::max(max_logit, c.first);
  const float threshold = max_logit + std::log(min_p);  // p_i >= min_p * p_max
  std::erase_if(cands, [&](const Candidate& c) { return c.first < threshold; });
}

}  // namespace

LogSoftmax LogSoftmax::of(std::span<const float> logits) {
  LogSoftmax norm;
  if (!logits.empty()) log_sum_exp_f32(logits.data(), static_cast<int64_t>(logits.size()), &norm.max_logit, &norm.log_sum);
  return norm;
}

float LogSoftmax::logprob(std::span<const float> logits, int32_t token) const {
  return static_cast<float>(static_cast<double>(logits[static_cast<size_t>(token)] - max_logit) - log_sum);
}

void top_logprobs(std::span<const float> logits, const LogSoftmax& norm, int n,
                  std::vector<TokenLogprob>* out) {
  out->clear();
  const size_t k = std::min({static_cast<size_t>(std::max(n, 0)), static_cast<size_t>(kMaxTopLogprobs),
                             logits.size()});
  if (k == 0) return;
  // A running top-k by (logit desc, id asc): one pass, k <= 20 compares per better logit.
  std::vector<Candidate> best;
  best.reserve(k + 1);
  for (size_t i = 0; i < logits.size(); ++i) {
    const Candidate c{logits[i], static_cast<int32_t>(i)};
    if (best.size() == k && !by_logit_desc(c, best.back())) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), c, by_logit_desc), c);
    if (best.size() > k) best.pop_back();
  }
  for (const Candidate& c : best) out->push_back({c.second, norm.logprob(logits, c.second)});
}

double sample_uniform(uint64_t seed, uint64_t index) {
  // The seed is hashed into the stream's start so that nearby seeds give unrelated streams
  // (plain SplitMix64 from seed s + kGolden is the stream of s shifted by one).
  const uint64_t state = mix64(seed + kGolden) + (index + 1) * kGolden;
  return static_cast<double>(mix64(state) >> 11) * 0x1.0p-53;
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  if (params.seed.has_value()) {
    seed_ = *params.seed;
  } else {
    std::random_device rd;
    seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history, int index,
                        float* logprob) {
  if (logits.empty()) return 0;
  const bool penalize = params_.repetition_penalty != 1.0f && params_.repeat_last_n != 0 && !history.empty();
  if (params_.temperature <= 0.0f && !penalize) {  // plain greedy: no copy
    const auto best = static_cast<int32_t>(argmax_f32(logits.data(), static_cast<int64_t>(logits.size())));
    if (logprob != nullptr) *logprob = log_softmax_at(logits, best);
    return best;
  }
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    candidates_[i] = {logits[i], static_cast<int32_t>(i)};
  }
  apply_repetition_penalty(candidates_, history, params_.repetition_penalty, params_.repeat_last_n);

  int32_t chosen = 0;
  if (params_.temperature <= 0.0f) {
    chosen = std::max_element(candidates_.begin(), candidates_.end(),
                              [](const Candidate& a, const Candidate& b) { return a.first < b.first; })
                 ->second;
  } else {
    const float inv_t = 1.0f / params_.temperature;
    for (auto& c : candidates_) c.first *= inv_t;
    bool sorted = false;
    const size_t k = static_cast<size_t>(std::max(params_.top_k, 0));
    if (k > 0 && k < candidates_.size()) {
      std::nth_element(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k - 1),
                       candidates_.end(), by_logit_desc);
      candidates_.resize(k);
      std::sort(candidates_.begin(), candidates_.end(), by_logit_desc);
      sorted = true;
    }
    if (params_.top_p < 1.0f && params_.top_p > 0.0f) apply_top_p(candidates_, params_.top_p, sorted);
    if (params_.min_p > 0.0f && params_.min_p <= 1.0f) apply_min_p(candidates_, params_.min_p);
    // softmax over the survivors and an inverse-CDF draw from a 53-bit uniform.
    float max_logit = -std::numeric_limits<float>::infinity();
    for (const auto& c : candidates_) max_logit = std::max(max_logit, c.first);
    double total = 0;
    for (auto& c : candidates_) {
      c.first = std::exp(c.first - max_logit);
      total += c.first;
    }
    const double u = sample_uniform(seed_, static_cast<uint64_t>(std::max(index, 0))) * total;
    double cum = 0;
    chosen = candidates_.back().second;
    for (const auto& c : candidates_) {
      cum += c.first;
      if (u < cum) {
        chosen = c.second;
        break;
      }
    }
  }
  if (logprob != nullptr) *logprob = log_softmax_at(logits, chosen);
  return chosen;
}

}  // namespace rs::engine
