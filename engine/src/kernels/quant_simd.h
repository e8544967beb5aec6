// AVX2 helpers shared by the SIMD matmul files: weight-row repacking for Q8_0/Q4_0 into a
// panel of contiguous int8 values + expanded float scales, and the activation quantizer
// (bit-identical to quantize_act_scalar). Internal linkage: each including file compiles
// its own copy with its own instruction set (AVX2 or AVX-512).
#pragma once

#include <immintrin.h>

#include <cmath>

#include "kernels_internal.h"

namespace rs::engine::kern {
namespace {

// Panel of one weight row: qs[nbp * 32] int8 (q - 8 for Q4_0), dw8[nbp * 8] float scales.
inline void repack_row(GgmlType type, const uint8_t* src, int64_t n_blocks, int64_t nbp,
                       int8_t* qs, float* dw8) {
  if (type == GgmlType::kQ8_0) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(src);
    for (int64_t i = 0; i < n_blocks; ++i) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + i * 32),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs)));
      _mm256_storeu_ps(dw8 + i * 8, _mm256_set1_ps(_cvtsh_ss(load_u16(b[i].d))));
    }
  } else {
    const auto* b = reinterpret_cast<const BlockQ4_0*>(src);
    const __m128i low = _mm_set1_epi8(0x0f);
    const __m128i eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < n_blocks; ++i) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs));
      const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, low), eight);
      const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), low), eight);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + i * 32), lo);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + i * 32 + 16), hi);
      _mm256_storeu_ps(dw8 + i * 8, _mm256_set1_ps(_cvtsh_ss(load_u16(b[i].d))));
    }
  }
  for (int64_t i = n_blocks; i < nbp; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + i * 32), _mm256_setzero_si256());
    _mm256_storeu_ps(dw8 + i * 8, _mm256_setzero_ps());
  }
}

inline __m256i quantize8(const float* x, __m256 vid) {
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), vid));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), vid));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), vid));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), vid));
  const __m256i p01 = _mm256_packs_epi32(i0, i1);  // lanes interleaved by 128-bit halves
  const __m256i p23 = _mm256_packs_epi32(i2, i3);
  const __m256i p = _mm256_packs_epi16(p01, p23);
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Quantizes one block of 32 like quantize_act_scalar; flip = 0x80 stores int8 + 128.
inline void quantize_block(const float* xb, __m256i vflip, int8_t* q, float* d8) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(xb));
  m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 8)));
  m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 16)));
  m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 24)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  const float amax = _mm_cvtss_f32(h);
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm256_xor_si256(quantize8(xb, _mm256_set1_ps(id)), vflip));
  _mm256_storeu_ps(d8, _mm256_set1_ps(fp16_to_fp32(fp32_to_fp16(d))));  // fp16, as ggml
}

// Token-major layout (see QuantAct), int8 values.
inline void quantize_act_simd(const float* x, int64_t n_in, int64_t t0, int64_t t1,
                              const QuantAct& act) {
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t b = 0; b < act.nbp; ++b) {
      int8_t* q = act.qs + (t * act.nbp + b) * kQBlock;
      float* d8 = act.d8 + (t * act.nbp + b) * 8;
      if (b >= act.n_blocks) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), zero);
        _mm256_storeu_ps(d8, _mm256_setzero_ps());
        continue;
      }
      quantize_block(x + t * n_in + b * kQBlock, zero, q, d8);
    }
  }
}

// Token-pair layout (see QuantAct and pair_slot), uint8 = int8 + 128. The range owning
// the last token of an odd batch also writes its zero partner.
inline void quantize_act_pairs(const float* x, int64_t n_in, int64_t t0, int64_t t1,
                               const QuantAct& act) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const int64_t nb = act.n_blocks;
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t k = pair_slot(act, t / 2, b);
      quantize_block(x + t * n_in + b * kQBlock, flip, act.qs + k * 64 + (t % 2) * 32,
                     act.d8 + k * 16 + (t % 2) * 8);
    }
  }
  if (t1 == act.n_tokens && t1 % 2 == 1) {
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t k = pair_slot(act, t1 / 2, b);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(act.qs + k * 64 + 32), flip);
      _mm256_storeu_ps(act.d8 + k * 16 + 8, _mm256_setzero_ps());
    }
  }
}

}  // namespace
}  // namespace rs::engine::kern
