// AVX-512 VNNI block-dot rows (see blockdot.h) for the legacy blocks of 32 (Q4_1, Q5_0,
// Q5_1, IQ4_NL): two blocks per 512-bit vector (the ActPair32 activation copy), unsigned
// weight bytes against signed activations with vpdpbusd, the weight offset removed with
// the activation block sums; each pair unpacked once for up to kLegacyTile tokens; float
// accumulation lane-wise, one horizontal sum per row. The K-quants go to
// matmul_kq_fast_avx512.cpp.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>

#include "kq_unpack_simd.h"
#include "simd_reduce.h"

namespace rs::engine::kern {

namespace {

constexpr int64_t kLegacyTile = 8;
constexpr int64_t kTokenChunk = 128;  // multiple of kLegacyTile

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// One pair of weight blocks (2p, 2p + 1) in 512-bit lanes, as ActPair32.
struct WeightPair {
  __m512i w;    // raw bytes (offset legacy_offset)
  __m512 d;     // scale per lane
  __m512 m;     // min per lane (Q4_1/Q5_1)
};

inline WeightPair load_pair(GgmlType type, const uint8_t* row, int64_t p, int64_t n_blocks) {
  const int64_t bytes = legacy_block_bytes(type);
  float d0, m0, d1 = 0.0f, m1 = 0.0f;
  const __m256i w0 = unpack_legacy_simd(type, row + 2 * p * bytes, &d0, &m0);
  __m256i w1 = _mm256_setzero_si256();
  if (2 * p + 1 < n_blocks) w1 = unpack_legacy_simd(type, row + (2 * p + 1) * bytes, &d1, &m1);
  WeightPair wp;
  wp.w = _mm512_inserti64x4(_mm512_castsi256_si512(w0), w1, 1);
  wp.d = _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);
  wp.m = _mm512_insertf32x8(_mm512_set1_ps(m0), _mm256_set1_ps(m1), 1);
  return wp;
}

// Per token and pair: (dot - off * sum) * d_w * d_x lane-wise (the offset term only in
// lanes 0 and 8, exact in float), plus m_w * s_x for Q4_1/Q5_1 in its own accumulator.
// Explicit fma throughout (never left to contraction, which could differ between tiles).
template <int T>
void legacy_tile(GgmlType type, const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  const __m512 off = _mm512_set1_ps(static_cast<float>(legacy_offset(type)));
  const bool has_min = legacy_has_min(type);
  __m512 acc[T], accm[T];
  const ActPair32* x[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    acc[t] = _mm512_setzero_ps();
    accm[t] = _mm512_setzero_ps();
    x[t] = reinterpret_cast<const ActPair32*>(act.data + (t0 + t) * act.row_bytes + act.pair_offset);
  }
  for (int64_t p = 0; p < (act.n_blocks + 1) / 2; ++p) {
    const WeightPair wp = load_pair(type, row, p, act.n_blocks);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const ActPair32& xp = x[t][p];
      const __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wp.w, _mm512_load_si512(xp.qs));
      const __m512 f = _mm512_fnmadd_ps(_mm512_load_ps(xp.sum), off, _mm512_cvtepi32_ps(dp));
      acc[t] = _mm512_fmadd_ps(f, _mm512_mul_ps(wp.d, _mm512_load_ps(xp.dx)), acc[t]);
      if (has_min) accm[t] = _mm512_fmadd_ps(wp.m, _mm512_load_ps(xp.s), accm[t]);
    }
  }
  for (int t = 0; t < T; t += 4) {
    __m512 v[4];
    for (int r = 0; r < 4; ++r) v[r] = t + r < T ? _mm512_add_ps(acc[t + r], accm[t + r]) : _mm512_setzero_ps();
    alignas(16) float sums[4];
    _mm_store_ps(sums, hsum4_512(v[0], v[1], v[2], v[3]));
    for (int r = 0; r < 4 && t + r < T; ++r) out[t + r] = sums[r];
  }
}

void legacy_rows(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const BlockAct& act = *a.bact;
  const auto* base = static_cast<const uint8_t*>(a.w.data);
  float out[kLegacyTile];
  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += kTokenChunk) {  // activations stay in L2
    const int64_t c1 = std::min(a.n_tokens, c0 + kTokenChunk);
    for (int64_t o = r0; o < r1; ++o) {
      const uint8_t* row = base + o * a.w.row_bytes;
      for (int64_t t0 = c0; t0 < c1; t0 += kLegacyTile) {
        const int64_t nt = std::min(kLegacyTile, c1 - t0);
        switch (nt) {
          case 8: legacy_tile<8>(a.w.type, row, act, t0, out); break;
          case 7: legacy_tile<7>(a.w.type, row, act, t0, out); break;
          case 6: legacy_tile<6>(a.w.type, row, act, t0, out); break;
          case 5: legacy_tile<5>(a.w.type, row, act, t0, out); break;
          case 4: legacy_tile<4>(a.w.type, row, act, t0, out); break;
          case 3: legacy_tile<3>(a.w.type, row, act, t0, out); break;
          case 2: legacy_tile<2>(a.w.type, row, act, t0, out); break;
          default: legacy_tile<1>(a.w.type, row, act, t0, out); break;
        }
        for (int64_t t = 0; t < nt; ++t) a.y[(t0 + t) * a.w.n_out + o] = out[t];
      }
    }
  }
}

}  // namespace

void block_rows_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (block_rows_packed_avx512(a, r0, r1)) return;  // Q4_K with a packed copy
  if (block_rows_fast_avx512(a, r0, r1)) return;    // the K-quants
  legacy_rows(a, r0, r1);
}

}  // namespace rs::engine::kern
