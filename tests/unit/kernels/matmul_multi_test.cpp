// matmul_multi: every output bit-identical to the matmul of its matrix alone, for every
// weight type and kernel path, with and without a pool, fused or falling back.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "rs/engine/kernels.h"
#include "rs/engine/thread_pool.h"

namespace rs::engine {
namespace {

int64_t multi_row_bytes_of(GgmlType t, int64_t n) { return ggml_row_bytes(t, n); }

struct Mat {
  std::vector<uint8_t> bytes;
  WeightView view;
};

Mat make_mat(GgmlType t, int64_t n_out, int64_t n_in, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 0.5f);
  Mat m;
  const int64_t rb = multi_row_bytes_of(t, n_in);
  m.bytes.resize(static_cast<size_t>(rb * n_out));
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t o = 0; o < n_out; ++o) {
    for (auto& v : row) v = dist(rng);
    quantize_row(t, row.data(), m.bytes.data() + o * rb, n_in);
  }
  m.view = WeightView{t, m.bytes.data(), n_in, n_out, rb};
  return m;
}

void expect_same_as_single(const std::vector<Mat>& mats, int64_t n_tok, ThreadPool* pool, KernelPath path,
                           std::mt19937& rng) {
  const int64_t n_in = mats[0].view.n_in;
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tok * n_in));
  for (auto& v : x) v = dist(rng);
  std::vector<WeightView> views;
  std::vector<std::vector<float>> ys, refs;
  for (const Mat& m : mats) {
    views.push_back(m.view);
    ys.emplace_back(static_cast<size_t>(n_tok * m.view.n_out), -1.0f);
    refs.emplace_back(static_cast<size_t>(n_tok * m.view.n_out), -2.0f);
    matmul(m.view, x.data(), n_tok, refs.back().data(), pool, path);
  }
  std::vector<float*> yp;
  for (auto& y : ys) yp.push_back(y.data());
  matmul_multi(views.data(), static_cast<int>(views.size()), x.data(), n_tok, yp.data(), pool, path);
  for (size_t i = 0; i < mats.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(ys[i].data(), refs[i].data(), ys[i].size() * sizeof(float)))
        << ggml_type_name(mats[i].view.type) << " matrix " << i << " n_tok " << n_tok;
  }
}

TEST(MatmulMulti, EqualsSingleMatmuls) {
  std::mt19937 rng(7);
  ThreadPool pool(2);
  for (GgmlType t : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0, GgmlType::kQ4_0,
                     GgmlType::kQ5_1, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    const int64_t n_in = ggml_block_elems(t) == 256 ? 512 : 96;
    std::vector<Mat> mats;
    mats.push_back(make_mat(t, 67, n_in, rng));
    mats.push_back(make_mat(t, 9, n_in, rng));
    mats.push_back(make_mat(t, 130, n_in, rng));
    for (KernelPath path : {KernelPath::kScalar, KernelPath::kAuto}) {
      for (int64_t n_tok : {1, 2, 5, 16, 17, 70}) {
        expect_same_as_single(mats, n_tok, &pool, path, rng);
        expect_same_as_single(mats, n_tok, nullptr, path, rng);
      }
    }
  }
}

TEST(MatmulMulti, MixedTypesFallBack) {
  std::mt19937 rng(8);
  ThreadPool pool(2);
  std::vector<Mat> mats;
  mats.push_back(make_mat(GgmlType::kQ8_0, 40, 64, rng));
  mats.push_back(make_mat(GgmlType::kF16, 24, 64, rng));
  for (int64_t n_tok : {1, 16}) expect_same_as_single(mats, n_tok, &pool, KernelPath::kAuto, rng);
}

// K-quants of different types share one activation quantization (a Q4_K_M attention).
TEST(MatmulMulti, MixedKQuantsFuse) {
  std::mt19937 rng(9);
  ThreadPool pool(2);
  std::vector<Mat> mats;
  mats.push_back(make_mat(GgmlType::kQ4_K, 40, 512, rng));
  mats.push_back(make_mat(GgmlType::kQ4_K, 24, 512, rng));
  mats.push_back(make_mat(GgmlType::kQ6_K, 24, 512, rng));
  for (KernelPath path : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAuto}) {
    for (int64_t n_tok : {1, 5, 16}) expect_same_as_single(mats, n_tok, &pool, path, rng);
  }
}

}  // namespace
}  // namespace rs::engine
