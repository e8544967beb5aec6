// The weight types beyond Q8_0/Q4_0 (Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K): quantize ->
// dequantize error, the scalar matmul against a double reference with the activations
// rounded as ggml does (an independent re-implementation of q8_0 / q8_1 / q8_K), and the
// block layouts against real llama-quantize output (../shared/models/set2/llama-kq-*).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "rs/engine/gguf.h"
#include "rs/engine/kernels.h"
#include "test_paths.h"

namespace rs::engine {
namespace {
namespace qtypes {

constexpr GgmlType kNewTypes[] = {GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                                  GgmlType::kIQ4_NL, GgmlType::kQ2_K, GgmlType::kQ3_K,
                                  GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};

double rel_rms(const std::vector<float>& a, const std::vector<float>& ref) {
  double e = 0.0, r = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    e += (static_cast<double>(a[i]) - ref[i]) * (static_cast<double>(a[i]) - ref[i]);
    r += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(e / std::max(r, 1e-30));
}

// Relative RMS error of quantize -> dequantize on Gaussian data, per type: about 1.4x the
// measured error (Q2_K 0.265, Q3_K 0.143, Q4_K 0.070, Q5_K 0.035, Q6_K 0.017, Q4_1 0.079,
// IQ4_NL 0.076, Q5_0 0.042, Q5_1 0.038; llama-quantize's files show the same per type).
double roundtrip_bound(GgmlType t) {
  switch (t) {
    case GgmlType::kQ2_K: return 0.37;
    case GgmlType::kQ3_K: return 0.20;
    case GgmlType::kQ4_1:
    case GgmlType::kIQ4_NL:
    case GgmlType::kQ4_K: return 0.11;
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ5_K: return 0.06;
    default: return 0.025;  // Q6_K
  }
}

std::vector<float> gaussian(int64_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> roundtrip(GgmlType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(static_cast<size_t>(ggml_row_bytes(t, n)));
  quantize_row(t, x.data(), q.data(), n);
  std::vector<float> back(x.size());
  dequantize_row(t, q.data(), back.data(), n);
  return back;
}

TEST(KernelsQuantTypes, RoundTripErrorPerType) {
  std::mt19937 rng(21);
  for (GgmlType t : kNewTypes) {
    const auto x = gaussian(4096, rng);
    const double err = rel_rms(roundtrip(t, x), x);
    EXPECT_LT(err, roundtrip_bound(t)) << ggml_type_name(t);
    std::printf("  %-7s gaussian rel rms %.4f\n", std::string(ggml_type_name(t)).c_str(), err);
    // Shifted data (non-zero mean) and a row with an outlier stay sound too.
    auto shifted = gaussian(2048, rng, 0.1f);
    for (auto& v : shifted) v += 0.3f;
    EXPECT_LT(rel_rms(roundtrip(t, shifted), shifted), roundtrip_bound(t)) << ggml_type_name(t);
    std::vector<float> zeros(512, 0.0f);
    EXPECT_EQ(rel_rms(roundtrip(t, zeros), zeros), 0.0) << ggml_type_name(t);
  }
}

// ggml's activation rounding, re-implemented here: q8_K (blocks of 256, iscale = -127 /
// signed max, d = 1 / iscale) for the K-quants, q8_1 for Q4_1/Q5_1, q8_0 otherwise
// (d = amax / 127 kept as fp16; q = nearest-even of x / d).
std::vector<double> ggml_rounded(GgmlType t, const float* x, int64_t n) {
  std::vector<double> out(static_cast<size_t>(n));
  const bool k = ggml_block_elems(t) == 256;
  const int64_t bs = k ? 256 : 32;
  for (int64_t b = 0; b < n; b += bs) {
    float amax = 0.0f, max = 0.0f;
    for (int64_t j = b; j < b + bs; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (k) {
      const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
      const float d = amax != 0.0f ? 1.0f / iscale : 0.0f;
      for (int64_t j = b; j < b + bs; ++j) {
        out[static_cast<size_t>(j)] = std::min(127.0f, std::nearbyint(iscale * x[j])) * static_cast<double>(d);
      }
    } else {
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      const float dh = fp16_to_fp32(fp32_to_fp16(d));
      for (int64_t j = b; j < b + bs; ++j) out[static_cast<size_t>(j)] = std::nearbyint(x[j] * id) * static_cast<double>(dh);
    }
  }
  return out;
}

// Q4_1/Q5_1 (Q8_1 activations): ggml takes the min term as m * s per block, with
// s = fp16(d * sum q) rather than d_fp16 * sum q; the difference, for the reference.
double min_term_correction(GgmlType t, const uint8_t* wrow, const float* x, int64_t n) {
  if (t != GgmlType::kQ4_1 && t != GgmlType::kQ5_1) return 0.0;
  const int64_t block_bytes = ggml_block_bytes(t);
  double corr = 0.0;
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += static_cast<int>(std::nearbyint(x[b * 32 + j] * id));
    const uint8_t* blk = wrow + b * block_bytes;
    const float m = fp16_to_fp32(static_cast<uint16_t>(blk[2] | (blk[3] << 8)));
    const double s = fp16_to_fp32(fp32_to_fp16(d * static_cast<float>(sum)));
    corr += m * (s - static_cast<double>(fp16_to_fp32(fp32_to_fp16(d))) * sum);
  }
  return corr;
}

TEST(KernelsQuantTypes, ScalarMatchesDoubleReferenceWithGgmlRounding) {
  std::mt19937 rng(22);
  for (GgmlType t : kNewTypes) {
    const int64_t n_in = 512, n_out = 7, n_tok = 3;
    std::vector<uint8_t> w(static_cast<size_t>(ggml_row_bytes(t, n_in) * n_out));
    std::vector<float> wd(static_cast<size_t>(n_in * n_out));
    for (int64_t o = 0; o < n_out; ++o) {
      const auto row = gaussian(n_in, rng, 0.5f);
      quantize_row(t, row.data(), w.data() + o * ggml_row_bytes(t, n_in), n_in);
      dequantize_row(t, w.data() + o * ggml_row_bytes(t, n_in), wd.data() + o * n_in, n_in);
    }
    const auto x = gaussian(n_in * n_tok, rng);
    std::vector<float> y(static_cast<size_t>(n_out * n_tok));
    matmul(WeightView{t, w.data(), n_in, n_out, ggml_row_bytes(t, n_in)}, x.data(), n_tok, y.data(),
           nullptr, KernelPath::kScalar);
    for (int64_t tok = 0; tok < n_tok; ++tok) {
      const auto xr = ggml_rounded(t, x.data() + tok * n_in, n_in);
      for (int64_t o = 0; o < n_out; ++o) {
        double ref = 0.0, mag = 0.0;
        for (int64_t i = 0; i < n_in; ++i) {
          ref += wd[static_cast<size_t>(o * n_in + i)] * xr[static_cast<size_t>(i)];
          mag += std::fabs(wd[static_cast<size_t>(o * n_in + i)] * xr[static_cast<size_t>(i)]);
        }
        ref += min_term_correction(t, w.data() + o * ggml_row_bytes(t, n_in), x.data() + tok * n_in, n_in);
        EXPECT_NEAR(y[static_cast<size_t>(tok * n_out + o)], ref, 2e-5 * mag + 1e-4)
            << ggml_type_name(t) << " o=" << o << " t=" << tok;
      }
    }
  }
}

// Real llama-quantize output: each quantized tensor dequantizes to (about) the F32 file's.
struct LayoutCase {
  const char* file;
  const char* tensor;
  GgmlType type;
  double bound;  // relative RMS error vs the F32 tensor
};

// Bounds: 1.5-2x the measured error (Q2_K 0.296, Q3_K 0.151, Q4_K 0.071, Q5_K 0.036,
// Q6_K 0.018, Q4_1 0.078, IQ4_NL 0.076, Q5_0 0.043, Q5_1 0.038); a wrong layout gives ~1.
constexpr LayoutCase kLayoutCases[] = {
    {"llama-kq-q4_1.gguf", "blk.0.ffn_gate.weight", GgmlType::kQ4_1, 0.15},
    {"llama-kq-q5_0.gguf", "blk.0.ffn_gate.weight", GgmlType::kQ5_0, 0.08},
    {"llama-kq-q5_1.gguf", "blk.0.ffn_gate.weight", GgmlType::kQ5_1, 0.08},
    {"llama-kq-iq4_nl.gguf", "blk.0.ffn_gate.weight", GgmlType::kIQ4_NL, 0.15},
    {"llama-kq-q2_k.gguf", "blk.0.ffn_gate.weight", GgmlType::kQ2_K, 0.45},
    {"llama-kq-q2_k.gguf", "blk.1.ffn_down.weight", GgmlType::kQ3_K, 0.25},
    {"llama-kq-q3_k_m.gguf", "blk.0.ffn_gate.weight", GgmlType::kQ3_K, 0.25},
    {"llama-kq-q3_k_m.gguf", "blk.0.attn_output.weight", GgmlType::kQ4_K, 0.15},
    {"llama-kq-q3_k_m.gguf", "blk.0.attn_v.weight", GgmlType::kQ5_K, 0.08},
    {"llama-kq-q4_k_m.gguf", "blk.0.ffn_gate.weight", GgmlType::kQ4_K, 0.15},
    {"llama-kq-q4_k_m.gguf", "token_embd.weight", GgmlType::kQ4_K, 0.15},
    {"llama-kq-q4_k_m.gguf", "blk.1.ffn_down.weight", GgmlType::kQ6_K, 0.04},
    {"llama-kq-q5_k_m.gguf", "blk.0.ffn_gate.weight", GgmlType::kQ5_K, 0.08},
    {"llama-kq-q6_k.gguf", "blk.0.ffn_gate.weight", GgmlType::kQ6_K, 0.04},
    {"llama-kq-q6_k.gguf", "output.weight", GgmlType::kQ6_K, 0.04},
    {"llama-kq-q4_0.gguf", "output.weight", GgmlType::kQ6_K, 0.04},
};

std::vector<float> dequantize_tensor(const TensorInfo& t) {
  int64_t n = 1;
  for (int64_t d : t.dims) n *= d;
  std::vector<float> out(static_cast<size_t>(n));
  const int64_t row = t.dims[0];
  const int64_t rb = ggml_row_bytes(t.type, row);
  for (int64_t r = 0; r < n / row; ++r) dequantize_row(t.type, t.data + r * rb, out.data() + r * row, row);
  return out;
}

TEST(KernelsQuantTypes, RealFilesDequantizeToTheF32Tensors) {
  const std::string f32_path = rs::test::model_path("set2/llama-kq-f32.gguf");
  RS_REQUIRE_FILE(f32_path);
  auto f32 = GgufFile::open(f32_path);
  ASSERT_TRUE(f32.ok()) << f32.status().message();
  for (const LayoutCase& c : kLayoutCases) {
    const std::string path = rs::test::model_path(std::string("set2/") + c.file);
    RS_REQUIRE_FILE(path);
    auto q = GgufFile::open(path);
    ASSERT_TRUE(q.ok()) << path;
    const TensorInfo* tq = (*q)->find_tensor(c.tensor);
    const TensorInfo* tf = (*f32)->find_tensor(c.tensor);
    ASSERT_TRUE(tq != nullptr && tf != nullptr) << c.file << " " << c.tensor;
    ASSERT_EQ(tq->type, c.type) << c.file << " " << c.tensor;
    ASSERT_EQ(tq->dims, tf->dims);
    const double err = rel_rms(dequantize_tensor(*tq), dequantize_tensor(*tf));
    EXPECT_LT(err, c.bound) << c.file << " " << c.tensor << " (" << ggml_type_name(c.type) << ")";
    std::printf("  %-22s %-26s %-7s rel rms %.4f\n", c.file, c.tensor,
                std::string(ggml_type_name(c.type)).c_str(), err);
  }
}

}  // namespace qtypes
}  // namespace
}  // namespace rs::engine
