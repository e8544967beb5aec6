// AVX2/FMA/F16C matmul: register-tiled F32/F16/BF16 (matmul_float_tile.h) and Q8_0/Q4_0
// with activations quantized to 8-bit blocks (maddubs with the sign trick). Compiled with
// -mavx2 -mfma -mf16c; used only after a run-time CPU check.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "blockdot.h"
#include "kernels_internal.h"
#include "matmul_float_tile.h"
#include "quant_simd.h"
#include "simd_reduce.h"

namespace rs::engine::kern {
namespace {

struct Avx2Traits {
  using V = __m256;
  static constexpr int kW = 8;
  static constexpr int kRows = 4;
  static constexpr int kTokens = 3;
  static constexpr int64_t kTokenChunk = 48;
  static V zero() { return _mm256_setzero_ps(); }
  static V load_f32(const float* p) { return _mm256_loadu_ps(p); }
  template <GgmlType WT>
  static V load(const uint8_t* row, int64_t i) {
    if constexpr (WT == GgmlType::kF32) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
    } else if constexpr (WT == GgmlType::kF16) {
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i * 2)));
    } else {
      const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i * 2)));
      return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    }
  }
  template <GgmlType WT>
  static void convert_row(const uint8_t* row, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + kW <= n; i += kW) _mm256_storeu_ps(out + i, load<WT>(row, i));
    for (; i < n; ++i) out[i] = FloatMatmul<Avx2Traits>::scalar_w<WT>(row, i);
  }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static __m128 hsum4(V a, V b, V c, V d) { return hsum4_256(a, b, c, d); }
};

constexpr int kQR = 2;  // quantized tile: rows x tokens
constexpr int kQT = 4;

template <int R, int T>
void qtile(const int8_t* wq, const float* wd, int64_t nbp_w, const QuantAct& act, int64_t t0,
           float* y, int64_t n_out) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    __m256i wv[R];
    __m256i aw[R];
    __m256 dw[R];
    for (int r = 0; r < R; ++r) {
      wv[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + (r * nbp_w + b) * 32));
      aw[r] = _mm256_abs_epi8(wv[r]);
      dw[r] = _mm256_loadu_ps(wd + (r * nbp_w + b) * 8);
    }
    for (int t = 0; t < T; ++t) {
      const int64_t k = (t0 + t) * act.nbp + b;
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act.qs + k * 32));
      const __m256 dx = _mm256_loadu_ps(act.d8 + k * 8);
      for (int r = 0; r < R; ++r) {
        const __m256i p16 = _mm256_maddubs_epi16(aw[r], _mm256_sign_epi8(x, wv[r]));
        const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
        acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], dx), f, acc[r][t]);  // (d_w * d_x) * sum, as ggml
      }
    }
  }
  static_assert(R <= 4);
  for (int t = 0; t < T; ++t) {
    __m256 v[4];
    for (int r = 0; r < 4; ++r) v[r] = r < R ? acc[r][t] : _mm256_setzero_ps();
    float s[4];
    _mm_storeu_ps(s, hsum4_256(v[0], v[1], v[2], v[3]));
    for (int r = 0; r < R; ++r) y[t * n_out + r] = s[r];
  }
}

template <int R, int T>
void qtail_tokens(int64_t rest, const int8_t* wq, const float* wd, int64_t nbp,
                  const QuantAct& act, int64_t t0, float* y, int64_t n_out) {
  if constexpr (T >= 1) {
    if (rest == T) {
      qtile<R, T>(wq, wd, nbp, act, t0, y, n_out);
    } else {
      qtail_tokens<R, T - 1>(rest, wq, wd, nbp, act, t0, y, n_out);
    }
  }
}

template <int R>
void qrow_block(const int8_t* wq, const float* wd, const QuantAct& act, int64_t n_tok,
                float* y, int64_t n_out) {
  int64_t t = 0;
  for (; t + kQT <= n_tok; t += kQT) qtile<R, kQT>(wq, wd, act.nbp, act, t, y + t * n_out, n_out);
  if (t < n_tok) qtail_tokens<R, kQT - 1>(n_tok - t, wq, wd, act.nbp, act, t, y + t * n_out, n_out);
}

void rows_quant(const MatmulArgs& a, int64_t r0, int64_t r1) {
  thread_local std::vector<int8_t> qs;
  thread_local std::vector<float> dw;
  const WeightView& w = a.w;
  const int64_t nbp = a.act.nbp;
  qs.resize(static_cast<size_t>(kQR * nbp * 32));
  dw.resize(static_cast<size_t>(kQR * nbp * 8));
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t o = r0; o < r1; o += kQR) {
    const int64_t rows = std::min<int64_t>(kQR, r1 - o);
    for (int64_t r = 0; r < rows; ++r) {
      repack_row(w.type, base + (o + r) * w.row_bytes, a.act.n_blocks, nbp,
                 qs.data() + r * nbp * 32, dw.data() + r * nbp * 8);
    }
    if (rows == kQR) {
      qrow_block<kQR>(qs.data(), dw.data(), a.act, a.n_tokens, a.y + o, w.n_out);
    } else {
      qrow_block<1>(qs.data(), dw.data(), a.act, a.n_tokens, a.y + o, w.n_out);
    }
  }
}

void rows_avx2(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (is_quant(a.w.type)) {
    rows_quant(a, r0, r1);
  } else {
    FloatMatmul<Avx2Traits>::rows(a, r0, r1);
  }
}

void prepare_avx2(GgmlType, const float* x, int64_t n_in, int64_t t0, int64_t t1,
                  const QuantAct& act) {
  quantize_act_simd(x, n_in, t0, t1, act);
}

}  // namespace

MatmulPath matmul_path_avx2() { return MatmulPath{rows_avx2, prepare_avx2, 4, block_rows_avx2}; }

}  // namespace rs::engine::kern
