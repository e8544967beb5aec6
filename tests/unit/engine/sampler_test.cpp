#include "rs/engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

namespace rs::engine {
namespace {

std::vector<float> random_logits(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

TEST(SamplerTest, GreedyIsArgmax) {
  Sampler s(SamplingParams{});
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto logits = random_logits(1000, seed);
    EXPECT_EQ(s.sample(logits, {}, static_cast<int>(seed), nullptr), argmax(logits));
  }
}

TEST(SamplerTest, LogprobIsLogSoftmaxOfRawLogits) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f};
  Sampler s(SamplingParams{});
  float lp = 0;
  EXPECT_EQ(s.sample(logits, {}, 0, &lp), 1);
  const double z = std::exp(1.0) + std::exp(3.0) + std::exp(2.0);
  EXPECT_NEAR(lp, 3.0 - std::log(z), 1e-5);
  SamplingParams p;
  p.temperature = 0.5f;
  p.seed = 3;
  Sampler t(p);
  int32_t id = t.sample(logits, {}, 0, &lp);
  EXPECT_NEAR(lp, logits[static_cast<size_t>(id)] - std::log(z), 1e-5);
}

TEST(SamplerTest, SameSeedSameTokens) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.95f;
  p.seed = 1234;
  Sampler a(p), b(p);
  p.seed = 99;
  Sampler c(p);
  int diffs = 0;
  for (uint64_t step = 0; step < 50; ++step) {
    auto logits = random_logits(5000, step);
    const int i = static_cast<int>(step);
    int32_t ta = a.sample(logits, {}, i, nullptr);
    EXPECT_EQ(ta, b.sample(logits, {}, i, nullptr));
    diffs += ta != c.sample(logits, {}, i, nullptr) ? 1 : 0;
  }
  EXPECT_GT(diffs, 0);
}

TEST(SamplerTest, TopKOneIsGreedy) {
  SamplingParams p;
  p.temperature = 2.0f;
  p.top_k = 1;
  p.seed = 7;
  Sampler s(p);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto logits = random_logits(32000, seed);
    EXPECT_EQ(s.sample(logits, {}, static_cast<int>(seed), nullptr), argmax(logits));
  }
}

TEST(SamplerTest, TopKRestrictsToKBest) {
  std::vector<float> logits = {5.0f, 4.9f, 4.8f, 0.0f, 4.7f, 1.0f};
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 3;
  p.seed = 1;
  Sampler s(p);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) ++counts[s.sample(logits, {}, i, nullptr)];
  for (auto& [id, n] : counts) EXPECT_TRUE(id == 0 || id == 1 || id == 2) << id;
  EXPECT_EQ(counts.size(), 3u);
}

// Probabilities (T=1): {0.5, 0.3, 0.15, 0.05}.
std::vector<float> four_way() {
  return {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
}

TEST(SamplerTest, TopPExcludesTail) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.75f;  // keeps 0.5 + 0.3
  p.seed = 42;
  Sampler s(p);
  std::map<int32_t, int> counts;
  const int n = 4000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(four_way(), {}, i, nullptr)];
  EXPECT_EQ(counts[2], 0);
  EXPECT_EQ(counts[3], 0);
  EXPECT_NEAR(static_cast<double>(counts[0]) / n, 0.625, 0.04);  // 0.5 / 0.8
}

TEST(SamplerTest, TopPOnLargeVocabWithoutTopK) {
  auto logits = random_logits(50000, 5);
  logits[123] = 30.0f;  // dominates: p ~ 1
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.9f;
  p.seed = 3;
  Sampler s(p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(logits, {}, i, nullptr), 123);
}

TEST(SamplerTest, MinPExcludesLowProbability) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.min_p = 0.2f;  // threshold 0.1: drops 0.05
  p.seed = 5;
  Sampler s(p);
  std::map<int32_t, int> counts;
  const int n = 4000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(four_way(), {}, i, nullptr)];
  EXPECT_EQ(counts[3], 0);
  EXPECT_GT(counts[2], 0);
  EXPECT_NEAR(static_cast<double>(counts[0]) / n, 0.5 / 0.95, 0.04);
}

TEST(SamplerTest, UnfilteredDistributionMatches) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 11;
  Sampler s(p);
  std::map<int32_t, int> counts;
  const int n = 8000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(four_way(), {}, i, nullptr)];
  EXPECT_NEAR(static_cast<double>(counts[0]) / n, 0.5, 0.03);
  EXPECT_NEAR(static_cast<double>(counts[3]) / n, 0.05, 0.015);
}

TEST(SamplerTest, RepetitionPenaltyLowersRepeatedTokens) {
  std::vector<float> logits = {2.0f, 1.9f, -1.0f, -1.1f};
  SamplingParams p;
  p.repetition_penalty = 1.5f;
  Sampler s(p);  // greedy + penalty
  std::vector<int32_t> history = {0};
  EXPECT_EQ(s.sample(logits, history, 0, nullptr), 1);  // 2.0 / 1.5 < 1.9
  EXPECT_EQ(s.sample(logits, {}, 1, nullptr), 0);
  // Negative logits get multiplied: -1.0 * 1.5 = -1.5 < -1.1.
  std::vector<float> neg = {-5.0f, -5.0f, -1.0f, -1.1f};
  std::vector<int32_t> h2 = {2, 2, 2};
  EXPECT_EQ(s.sample(neg, h2, 2, nullptr), 3);
  // Only the last repeat_last_n tokens count.
  p.repeat_last_n = 1;
  Sampler w(p);
  std::vector<int32_t> h3 = {0, 2};
  EXPECT_EQ(w.sample(logits, h3, 0, nullptr), 0);
}

// The counter-based stream: the draw of token i is a pure function of (seed, i).
TEST(SamplerTest, DrawOfIndexIndependentOfEarlierDraws) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.seed = 2024;
  Sampler full(p);
  std::vector<int32_t> sequential;
  for (int i = 0; i < 40; ++i) {
    sequential.push_back(full.sample(random_logits(500, 100 + i), {}, i, nullptr));
  }
  // A fresh sampler asked for index i alone (no earlier draws, or other ones) agrees.
  for (int i : {39, 0, 17, 17, 5, 38}) {
    Sampler fresh(p);
    if (i % 2 == 1) fresh.sample(random_logits(500, 7), {}, 1000 + i, nullptr);  // another draw first
    EXPECT_EQ(fresh.sample(random_logits(500, 100 + i), {}, i, nullptr),
              sequential[static_cast<size_t>(i)])
        << i;
  }
  for (uint64_t i = 0; i < 100; ++i) {
    const double u = sample_uniform(2024, i);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    EXPECT_EQ(u, sample_uniform(2024, i));
    EXPECT_NE(u, sample_uniform(2024, i + 1));
    EXPECT_NE(u, sample_uniform(2025, i));
  }
}

TEST(SamplerTest, UniformStreamLooksUniform) {
  // Mean 1/2, variance 1/12, and no visible correlation between neighbouring indices or
  // between nearby seeds, over a few thousand draws.
  const int n = 20000;
  double sum = 0, sum_sq = 0, lag = 0, cross = 0;
  for (int i = 0; i < n; ++i) {
    const double u = sample_uniform(7, static_cast<uint64_t>(i));
    sum += u;
    sum_sq += u * u;
    lag += (u - 0.5) * (sample_uniform(7, static_cast<uint64_t>(i) + 1) - 0.5);
    cross += (u - 0.5) * (sample_uniform(8, static_cast<uint64_t>(i)) - 0.5);
  }
  EXPECT_NEAR(sum / n, 0.5, 0.01);
  EXPECT_NEAR(sum_sq / n - (sum / n) * (sum / n), 1.0 / 12, 0.005);
  EXPECT_NEAR(lag / n, 0.0, 0.005);
  EXPECT_NEAR(cross / n, 0.0, 0.005);
}

TEST(SamplerTest, AbsentSeedIsChosenOncePerSampler) {
  SamplingParams p;
  p.temperature = 1.0f;
  Sampler s(p);
  const std::vector<float> logits = random_logits(1000, 3);
  // The same index under the sampler's own (chosen) seed gives the same token.
  EXPECT_EQ(s.sample(logits, {}, 5, nullptr), s.sample(logits, {}, 5, nullptr));
  p.seed = s.seed();
  Sampler replica(p);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(replica.sample(logits, {}, i, nullptr), s.sample(logits, {}, i, nullptr));
  }
}

}  // namespace
}  // namespace rs::engine
