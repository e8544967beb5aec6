// AVX-512 matmul: register-tiled F32/F16/BF16 on 16-lane vectors (matmul_float_tile.h);
// Q8_0/Q4_0 go to the VNNI kernel (matmul_q_avx512.cpp). Compiled with AVX-512
// F/BW/VL/DQ/VNNI flags; used only after a run-time CPU check.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include "blockdot.h"
#include "kernels_internal.h"
#include "matmul_float_tile.h"
#include "simd_reduce.h"

namespace rs::engine::kern {

void rows_quant_avx512(const MatmulArgs& a, int64_t r0, int64_t r1);
void prepare_avx512(GgmlType type, const float* x, int64_t n_in, int64_t t0, int64_t t1,
                    const QuantAct& act);

namespace {

struct Avx512Traits {
  using V = __m512;
  static constexpr int kW = 16;
  static constexpr int kRows = 4;
  static constexpr int kTokens = 6;
  static constexpr int64_t kTokenChunk = 60;
  static V zero() { return _mm512_setzero_ps(); }
  static V load_f32(const float* p) { return _mm512_loadu_ps(p); }
  template <GgmlType WT>
  static V load(const uint8_t* row, int64_t i) {
    if constexpr (WT == GgmlType::kF32) {
      return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
    } else if constexpr (WT == GgmlType::kF16) {
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i * 2)));
    } else {
      const __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i * 2)));
      return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
    }
  }
  template <GgmlType WT>
  static void convert_row(const uint8_t* row, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + kW <= n; i += kW) _mm512_storeu_ps(out + i, load<WT>(row, i));
    for (; i < n; ++i) out[i] = FloatMatmul<Avx512Traits>::scalar_w<WT>(row, i);
  }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static __m128 hsum4(V a, V b, V c, V d) { return hsum4_512(a, b, c, d); }
};

void rows_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (is_quant(a.w.type)) {
    rows_quant_avx512(a, r0, r1);
  } else {
    FloatMatmul<Avx512Traits>::rows(a, r0, r1);
  }
}

}  // namespace

MatmulPath matmul_path_avx512() { return MatmulPath{rows_avx512, prepare_avx512, 4, block_rows_avx512}; }

}  // namespace rs::engine::kern
