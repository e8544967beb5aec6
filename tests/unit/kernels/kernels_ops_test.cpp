#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "rs/engine/kernels.h"

namespace rs::engine {
namespace {

std::vector<float> randv(size_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Runs `body` once with the SIMD default and once forced to the scalar path.
template <typename F>
void both_paths(F body) {
  set_default_kernel_path(KernelPath::kAuto);
  body();
  set_default_kernel_path(KernelPath::kScalar);
  body();
  set_default_kernel_path(KernelPath::kAuto);
}

TEST(KernelsOps, DotAndAxpy) {
  std::mt19937 rng(1);
  for (int64_t n : {0, 1, 7, 8, 31, 32, 33, 64, 128, 257}) {
    const auto a = randv(static_cast<size_t>(n), rng);
    const auto b = randv(static_cast<size_t>(n), rng);
    double ref = 0.0;
    double mag = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      ref += static_cast<double>(a[i]) * b[i];
      mag += std::fabs(static_cast<double>(a[i]) * b[i]);
    }
    for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAuto}) {
      EXPECT_NEAR(dot_f32(a.data(), b.data(), n, p), ref, 1e-5 * mag + 1e-7) << n;
      auto y = b;
      axpy_f32(0.75f, a.data(), y.data(), n, p);
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], b[i] + 0.75f * a[i], 1e-5f) << n;
    }
  }
}

TEST(KernelsOps, RmsNorm) {
  std::mt19937 rng(2);
  both_paths([&] {
    for (int64_t n : {1, 5, 64, 771}) {
      const auto x = randv(static_cast<size_t>(n), rng, 3.0f);
      const auto w = randv(static_cast<size_t>(n), rng);
      std::vector<float> out(static_cast<size_t>(n));
      rms_norm(x.data(), w.data(), out.data(), n, 1e-5f);
      double ss = 0.0;
      for (float v : x) ss += static_cast<double>(v) * v;
      const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(out[i], x[i] * scale * w[i], 1e-5 * std::fabs(x[i] * scale * w[i]) + 1e-6);
    }
  });
}

TEST(KernelsOps, SoftmaxSiluAdd) {
  std::mt19937 rng(3);
  both_paths([&] {
    for (int64_t n : {1, 3, 8, 50, 517}) {
      auto x = randv(static_cast<size_t>(n), rng, 5.0f);
      if (n > 3) x[2] = -INFINITY;  // masked entry
      const auto orig = x;
      softmax_inplace(x.data(), n);
      double max = -INFINITY;
      for (float v : orig) max = std::max(max, static_cast<double>(v));
      double sum = 0.0;
      for (float v : orig) sum += std::exp(v - max);
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(x[i], std::exp(orig[i] - max) / sum, 2e-6) << n;

      auto g = randv(static_cast<size_t>(n), rng, 4.0f);
      const auto up = randv(static_cast<size_t>(n), rng);
      const auto g0 = g;
      silu_mul(g.data(), up.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double ref = g0[i] / (1.0 + std::exp(-static_cast<double>(g0[i]))) * up[i];
        EXPECT_NEAR(g[i], ref, 1e-5 * std::fabs(ref) + 1e-6);
      }
      auto y = g0;
      add_inplace(y.data(), up.data(), n);
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], g0[i] + up[i]);
    }
    std::vector<float> masked(5, -INFINITY);
    softmax_inplace(masked.data(), 5);
    for (float v : masked) EXPECT_EQ(v, 0.0f);
    std::vector<float> big = {-1000.0f, 0.0f, 88.0f, 100.0f};
    softmax_inplace(big.data(), 4);
    EXPECT_NEAR(big[3], 1.0f, 1e-5);
  });
}

// Greedy sampling's argmax and the log-softmax normalizer: the first maximum, NaN never
// chosen, any length; log(sum(exp(x - max))) as libm's double sum gives it.
TEST(KernelsOps, ArgmaxAndLogSumExp) {
  std::mt19937 rng(5);
  for (int64_t n : {1, 7, 8, 9, 31, 32000, 32003}) {
    std::vector<float> x = randv(static_cast<size_t>(n), rng, 3.0f);
    int64_t want = 0;
    for (int64_t i = 1; i < n; ++i) want = x[i] > x[want] ? i : want;
    double sum = 0;
    for (float v : x) sum += std::exp(static_cast<double>(v) - x[want]);
    both_paths([&] {
      EXPECT_EQ(argmax_f32(x.data(), n), want) << n;
      float max = 0;
      double log_sum = 0;
      log_sum_exp_f32(x.data(), n, &max, &log_sum);
      EXPECT_EQ(max, x[want]);
      EXPECT_NEAR(log_sum, std::log(sum), 1e-6) << n;
    });
  }
  std::vector<float> tie = {1, 5, 2, 5, 5, 0, 0, 0, 0, 5};
  std::vector<float> nan = {std::nanf(""), 1, 3, std::nanf(""), 3, 2, 0, 0, 0, std::nanf("")};
  std::vector<float> all_nan(9, std::nanf(""));
  both_paths([&] {
    EXPECT_EQ(argmax_f32(tie.data(), 10), 1);
    EXPECT_EQ(argmax_f32(nan.data(), 10), 2);
    EXPECT_EQ(argmax_f32(all_nan.data(), 9), 0);
  });
}

}  // namespace
}  // namespace rs::engine
