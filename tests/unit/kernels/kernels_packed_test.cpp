// The packed (row-interleaved) Q8_0, Q4_K and Q6_K copies read by the AVX-512 kernels: results
// equal the scalar path on the original rows bit for bit, for every batch size, tile
// remainder, token chunk and thread split, alone and fused in matmul_multi (with an
// unpacked matrix too, as a Q4_K_M layer whose attn_v has a row count not packed).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "rs/engine/kernels.h"
#include "rs/engine/thread_pool.h"

namespace rs::engine::packed_test {
namespace {

struct Matrix {
  std::vector<uint8_t> bytes;
  std::unique_ptr<uint8_t, decltype(&std::free)> packed{nullptr, &std::free};
  WeightView view;
};

Matrix make_matrix(GgmlType t, int64_t n_out, int64_t n_in, std::mt19937& rng, ThreadPool* pool) {
  std::normal_distribution<float> dist(0.0f, 0.5f);
  Matrix m;
  const int64_t rb = ggml_row_bytes(t, n_in);
  m.bytes.resize(static_cast<size_t>(rb * n_out) + 1);
  std::vector<float> row(static_cast<size_t>(n_in));
  uint8_t* base = m.bytes.data() + 1;  // the original rows need no alignment
  for (int64_t o = 0; o < n_out; ++o) {
    for (auto& v : row) v = dist(rng);
    quantize_row(t, row.data(), base + o * rb, n_in);
  }
  m.view = WeightView{t, base, n_in, n_out, rb};
  if (const int64_t bytes = packed_weight_bytes(m.view); bytes > 0) {
    m.packed.reset(static_cast<uint8_t*>(std::aligned_alloc(64, static_cast<size_t>(bytes))));
    pack_weight(m.view, m.packed.get(), pool);
    m.view.packed = m.packed.get();
  }
  return m;
}

std::vector<float> make_x(int64_t n_tokens, int64_t n_in, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tokens * n_in));
  for (auto& v : x) v = dist(rng);
  return x;
}

std::vector<float> run(WeightView w, const std::vector<float>& x, int64_t n_tokens, ThreadPool* pool,
                       KernelPath path) {
  std::vector<float> y(static_cast<size_t>(n_tokens * w.n_out), -1.0f);
  matmul(w, x.data(), n_tokens, y.data(), pool, path);
  return y;
}

WeightView unpacked(WeightView w) {
  w.packed = nullptr;
  return w;
}

TEST(KernelsPacked, OnlyQ8_0Q4KAndQ6KOfWholeRowGroupsOnAvx512HaveAPackedLayout) {
  std::mt19937 rng(31);
  if (!cpu_has_avx512_vnni()) {
    EXPECT_EQ(packed_weight_bytes(make_matrix(GgmlType::kQ4_K, 32, 256, rng, nullptr).view), 0);
    GTEST_SKIP() << "no AVX-512 VNNI: nothing is packed";
  }
  EXPECT_EQ(packed_weight_bytes(make_matrix(GgmlType::kQ4_K, 32, 512, rng, nullptr).view), 2 * 2 * 2368);
  EXPECT_EQ(packed_weight_bytes(make_matrix(GgmlType::kQ4_K, 24, 256, rng, nullptr).view), 0);
  EXPECT_EQ(packed_weight_bytes(make_matrix(GgmlType::kQ6_K, 32, 256, rng, nullptr).view), 2 * 3392);
  EXPECT_EQ(packed_weight_bytes(make_matrix(GgmlType::kQ5_K, 32, 256, rng, nullptr).view), 0);
  EXPECT_EQ(packed_weight_bytes(make_matrix(GgmlType::kQ8_0, 32, 256, rng, nullptr).view), 2 * 8 * 544);
  EXPECT_EQ(packed_weight_bytes(make_matrix(GgmlType::kQ8_0, 16, 96, rng, nullptr).view), (3 * 544 + 63) / 64 * 64);
  EXPECT_EQ(packed_weight_bytes(make_matrix(GgmlType::kQ4_0, 32, 256, rng, nullptr).view), 0);
}

TEST(KernelsPacked, EqualsTheScalarPathBitForBit) {
  if (!cpu_has_avx512_vnni()) GTEST_SKIP() << "no AVX-512 VNNI";
  std::mt19937 rng(32);
  ThreadPool pool(2);
  const int64_t n_out = 80, n_in = 256 * 5;
  for (GgmlType t : {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ8_0}) {
    const Matrix m = make_matrix(t, n_out, n_in, rng, &pool);
    ASSERT_NE(m.view.packed, nullptr);
    for (int64_t n_tok : {1, 2, 7, 8, 9, 16, 17, 63, 64, 65, 130}) {
      const auto x = make_x(n_tok, n_in, rng);
      const auto ref = run(unpacked(m.view), x, n_tok, nullptr, KernelPath::kScalar);
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        const auto y = run(m.view, x, n_tok, p, KernelPath::kAvx512);
        ASSERT_EQ(0, std::memcmp(y.data(), ref.data(), y.size() * 4)) << ggml_type_name(t) << " n_tokens=" << n_tok;
      }
    }
  }
}

TEST(KernelsPacked, FusedWithPackedAndUnpackedMatrices) {
  if (!cpu_has_avx512_vnni()) GTEST_SKIP() << "no AVX-512 VNNI";
  std::mt19937 rng(33);
  ThreadPool pool(2);
  const int64_t n_in = 512;
  const Matrix q = make_matrix(GgmlType::kQ4_K, 64, n_in, rng, &pool);
  const Matrix k = make_matrix(GgmlType::kQ4_K, 32, n_in, rng, &pool);
  const Matrix v = make_matrix(GgmlType::kQ6_K, 32, n_in, rng, &pool);
  const Matrix u = make_matrix(GgmlType::kQ6_K, 24, n_in, rng, &pool);  // 24 rows: not packed
  EXPECT_EQ(u.view.packed, nullptr);
  for (int64_t n_tok : {1, 5, 16}) {
    const auto x = make_x(n_tok, n_in, rng);
    const WeightView ws[4] = {q.view, k.view, v.view, u.view};
    std::vector<float> ys[4];
    float* yp[4];
    for (int i = 0; i < 4; ++i) {
      ys[i].assign(static_cast<size_t>(n_tok * ws[i].n_out), -1.0f);
      yp[i] = ys[i].data();
    }
    matmul_multi(ws, 4, x.data(), n_tok, yp, &pool, KernelPath::kAvx512);
    for (int i = 0; i < 4; ++i) {
      const auto alone = run(ws[i], x, n_tok, nullptr, KernelPath::kAvx512);
      ASSERT_EQ(0, std::memcmp(alone.data(), ys[i].data(), alone.size() * 4)) << "matrix " << i;
    }
    for (int i = 0; i < 3; ++i) {
      const auto ref = run(unpacked(ws[i]), x, n_tok, nullptr, KernelPath::kScalar);
      ASSERT_EQ(0, std::memcmp(ref.data(), ys[i].data(), ref.size() * 4)) << "matrix " << i;
    }
  }
}

}  // namespace
}  // namespace rs::engine::packed_test
