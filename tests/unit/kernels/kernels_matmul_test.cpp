#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "rs/engine/kernels.h"
#include "rs/engine/thread_pool.h"

namespace rs::engine {
namespace {

constexpr GgmlType kAllTypes[] = {
    GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,   GgmlType::kQ4_0,
    GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kIQ4_NL, GgmlType::kQ2_K,
    GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
constexpr KernelPath kSimdPaths[] = {KernelPath::kAvx2, KernelPath::kAvx512};

int64_t row_bytes_of(GgmlType t, int64_t n) { return ggml_row_bytes(t, n); }

bool is_quantized(GgmlType t) { return ggml_block_elems(t) > 1; }

// n rounded up to a whole number of t's blocks.
int64_t fit_row(GgmlType t, int64_t n) {
  const int64_t b = ggml_block_elems(t);
  return (n + b - 1) / b * b;
}

struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // dequantized, n_out x n_in
  WeightView view;
};

Weights make_weights(GgmlType t, int64_t n_out, int64_t n_in, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 0.5f);
  Weights w;
  const int64_t rb = row_bytes_of(t, n_in);
  w.bytes.resize(static_cast<size_t>(rb * n_out) + 1);  // +1: rows need no alignment
  w.deq.resize(static_cast<size_t>(n_out * n_in));
  std::vector<float> row(static_cast<size_t>(n_in));
  uint8_t* base = w.bytes.data() + 1;
  for (int64_t o = 0; o < n_out; ++o) {
    for (auto& v : row) v = dist(rng);
    quantize_row(t, row.data(), base + o * rb, n_in);
    dequantize_row(t, base + o * rb, w.deq.data() + o * n_in, n_in);
  }
  w.view = WeightView{t, base, n_in, n_out, rb};
  return w;
}

std::vector<float> make_x(int64_t n_tokens, int64_t n_in, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tokens * n_in));
  for (auto& v : x) v = dist(rng);
  return x;
}

std::vector<float> run(const Weights& w, const std::vector<float>& x, int64_t n_tokens,
                       ThreadPool* pool, KernelPath path) {
  std::vector<float> y(static_cast<size_t>(n_tokens * w.view.n_out), -1.0f);
  matmul(w.view, x.data(), n_tokens, y.data(), pool, path);
  return y;
}

// sum_i |w_i x_i|, the scale of rounding errors in y[t][o].
double abs_dot(const Weights& w, const std::vector<float>& x, int64_t t, int64_t o) {
  const int64_t n = w.view.n_in;
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += std::fabs(static_cast<double>(w.deq[o * n + i]) * x[t * n + i]);
  return s;
}

double ref_dot(const Weights& w, const std::vector<float>& x, int64_t t, int64_t o) {
  const int64_t n = w.view.n_in;
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(w.deq[o * n + i]) * x[t * n + i];
  return s;
}

struct Shape {
  int64_t n_out, n_in, n_tokens;
};

TEST(KernelsMatmul, ScalarMatchesDoubleReference) {
  std::mt19937 rng(10);
  for (GgmlType t : kAllTypes) {
    for (Shape s : {Shape{5, 64, 3}, Shape{13, 96, 1}, Shape{37, 256, 6}}) {
      s.n_in = fit_row(t, s.n_in);
      const Weights w = make_weights(t, s.n_out, s.n_in, rng);
      const auto x = make_x(s.n_tokens, s.n_in, rng);
      const auto y = run(w, x, s.n_tokens, nullptr, KernelPath::kScalar);
      // Quantized types also quantize the activations to 8 bits (|error| <= amax/254).
      const double rel = is_quantized(t) ? 2e-2 : 1e-5;
      for (int64_t tok = 0; tok < s.n_tokens; ++tok) {
        for (int64_t o = 0; o < s.n_out; ++o) {
          EXPECT_NEAR(y[tok * s.n_out + o], ref_dot(w, x, tok, o), rel * abs_dot(w, x, tok, o) + 1e-6)
              << ggml_type_name(t) << " o=" << o << " t=" << tok;
        }
      }
    }
  }
}

TEST(KernelsMatmul, SimdMatchesScalar) {
  std::mt19937 rng(11);
  ThreadPool pool(2);
  for (GgmlType t : kAllTypes) {
    const bool quant = is_quantized(t);
    for (int iter = 0; iter < 6; ++iter) {
      const int64_t n_in = quant ? ggml_block_elems(t) * (1 + rng() % 12) : 1 + rng() % 300;
      const int64_t n_out = 1 + rng() % 41;
      const int64_t n_tokens = 1 + rng() % 17;
      const Weights w = make_weights(t, n_out, n_in, rng);
      const auto x = make_x(n_tokens, n_in, rng);
      const auto ref = run(w, x, n_tokens, nullptr, KernelPath::kScalar);
      for (KernelPath p : kSimdPaths) {
        const auto y = run(w, x, n_tokens, &pool, p);
        for (int64_t tok = 0; tok < n_tokens; ++tok) {
          for (int64_t o = 0; o < n_out; ++o) {
            const size_t k = static_cast<size_t>(tok * n_out + o);
            ASSERT_NEAR(y[k], ref[k], 1e-5 * abs_dot(w, x, tok, o) + 1e-6)
                << ggml_type_name(t) << " path=" << static_cast<int>(p) << " n_in=" << n_in
                << " n_out=" << n_out << " n_tokens=" << n_tokens << " o=" << o << " t=" << tok;
          }
        }
      }
    }
  }
}

// y[t][o] must not depend on the batch size, the token's position or the thread split.
void check_batch_invariance(GgmlType t, KernelPath path, int64_t n_out, int64_t n_in) {
  std::mt19937 rng(12 + static_cast<int>(t));
  const Weights w = make_weights(t, n_out, n_in, rng);
  const int64_t kMax = 17;
  const auto tokens = make_x(kMax, n_in, rng);
  ThreadPool pool2(2);
  ThreadPool pool3(3);
  std::vector<std::vector<float>> alone(kMax);
  for (int64_t k = 0; k < kMax; ++k) {
    std::vector<float> one(tokens.begin() + k * n_in, tokens.begin() + (k + 1) * n_in);
    alone[static_cast<size_t>(k)] = run(w, one, 1, nullptr, path);
  }
  for (int64_t n = 1; n <= kMax; ++n) {
    // Token k of the pool goes to position (k * 5 + n) % n: every position gets covered.
    std::vector<float> x(static_cast<size_t>(n * n_in));
    std::vector<int64_t> src(static_cast<size_t>(n));
    for (int64_t pos = 0; pos < n; ++pos) {
      src[static_cast<size_t>(pos)] = (pos * 5 + n) % kMax;
      std::memcpy(x.data() + pos * n_in, tokens.data() + src[static_cast<size_t>(pos)] * n_in,
                  static_cast<size_t>(n_in) * 4);
    }
    ThreadPool* pools[] = {nullptr, &pool2, &pool3};
    for (ThreadPool* pool : pools) {
      const auto y = run(w, x, n, pool, path);
      for (int64_t pos = 0; pos < n; ++pos) {
        const auto& ref = alone[static_cast<size_t>(src[static_cast<size_t>(pos)])];
        ASSERT_EQ(0, std::memcmp(y.data() + pos * n_out, ref.data(), static_cast<size_t>(n_out) * 4))
            << ggml_type_name(t) << " path=" << static_cast<int>(path) << " n_tokens=" << n
            << " pos=" << pos << " threads=" << (pool ? pool->n_threads() : 1);
      }
    }
  }
}

TEST(KernelsMatmul, BatchInvariantAllTypesAllPaths) {
  for (GgmlType t : kAllTypes) {
    const bool quant = is_quantized(t);
    for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512}) {
      check_batch_invariance(t, p, 23, quant ? fit_row(t, 160) : 77);
      check_batch_invariance(t, p, 9, quant ? fit_row(t, 64) : 128);
    }
  }
}

// Long rows (several K blocks, a ragged tail) and batches past the token chunk size.
TEST(KernelsMatmul, BatchInvariantLongRowsBigBatch) {
  std::mt19937 rng(14);
  ThreadPool pool(2);
  for (GgmlType t : kAllTypes) {
    const int64_t n_in = is_quantized(t) ? fit_row(t, 32 * 35) : 1100;
    const int64_t n_out = 19;
    const int64_t n_tok = 130;
    const Weights w = make_weights(t, n_out, n_in, rng);
    const auto x = make_x(n_tok, n_in, rng);
    for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512}) {
      const auto y = run(w, x, n_tok, &pool, p);
      for (int64_t pos : {0, 5, 59, 60, 61, 119, 129}) {
        const std::vector<float> one(x.begin() + pos * n_in, x.begin() + (pos + 1) * n_in);
        const auto alone = run(w, one, 1, nullptr, p);
        ASSERT_EQ(0, std::memcmp(alone.data(), y.data() + pos * n_out, static_cast<size_t>(n_out) * 4))
            << ggml_type_name(t) << " path=" << static_cast<int>(p) << " pos=" << pos;
      }
    }
  }
}

// The AVX-512 quantized kernels follow the AVX2 arithmetic lane for lane (and so
// llama.cpp's): the two paths must agree bit for bit.
TEST(KernelsMatmul, QuantAvx512EqualsAvx2) {
  if (!cpu_has_avx512_vnni()) GTEST_SKIP() << "no AVX-512 VNNI";
  std::mt19937 rng(15);
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ4_0}) {
    for (int64_t n_tok : {1, 2, 3, 8, 9, 17}) {
      const Weights w = make_weights(t, 13, 32 * 7, rng);
      const auto x = make_x(n_tok, 32 * 7, rng);
      const auto a = run(w, x, n_tok, nullptr, KernelPath::kAvx2);
      const auto b = run(w, x, n_tok, nullptr, KernelPath::kAvx512);
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << ggml_type_name(t) << " n=" << n_tok;
    }
  }
}

TEST(KernelsMatmul, LargeShapeSimdMatchesScalar) {
  std::mt19937 rng(13);
  ThreadPool pool(2);
  for (GgmlType t : kAllTypes) {
    const Weights w = make_weights(t, 67, 768, rng);
    const auto x = make_x(5, 768, rng);
    const auto ref = run(w, x, 5, nullptr, KernelPath::kScalar);
    const auto y = run(w, x, 5, &pool, KernelPath::kAuto);
    for (int64_t tok = 0; tok < 5; ++tok) {
      for (int64_t o = 0; o < 67; ++o) {
        const size_t k = static_cast<size_t>(tok * 67 + o);
        ASSERT_NEAR(y[k], ref[k], 1e-5 * abs_dot(w, x, tok, o) + 1e-6) << ggml_type_name(t);
      }
    }
  }
}

TEST(KernelsMatmul, DefaultPathCanBeForcedScalar) {
  EXPECT_EQ(resolve_kernel_path(KernelPath::kScalar), KernelPath::kScalar);
  set_default_kernel_path(KernelPath::kScalar);
  EXPECT_EQ(resolve_kernel_path(KernelPath::kAuto), KernelPath::kScalar);
  set_default_kernel_path(KernelPath::kAuto);
  const KernelPath best = resolve_kernel_path(KernelPath::kAuto);
  if (cpu_has_avx512_vnni()) EXPECT_EQ(best, KernelPath::kAvx512);
  else if (cpu_has_avx2_fma_f16c()) EXPECT_EQ(best, KernelPath::kAvx2);
  else EXPECT_EQ(best, KernelPath::kScalar);
}

}  // namespace
}  // namespace rs::engine
