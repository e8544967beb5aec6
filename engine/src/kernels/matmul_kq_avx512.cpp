// AVX-512 VNNI block-dot rows (see blockdot.h): unsigned weight bytes against signed
// activations with vpdpbusd, 16 int32 lanes scaled per lane (4 lanes per 16 elements),
// the weight offset removed with the activation block sums. Each weight block is unpacked
// once for up to kTileTokens tokens. Integer sums equal the scalar path's exactly.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>

#include "kq_unpack_simd.h"

namespace rs::engine::kern {

namespace {

constexpr int64_t kTileTokens = 16;

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// Lane scales of the 64-byte chunk c: lanes 4g..4g+3 take sc[4c + g].
inline __m512i lane_scales(__m512i sc32, int c) {
  const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(4 * c),
                                       _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
  return _mm512_permutexvar_epi32(idx, sc32);
}

void k_tile(GgmlType type, const uint8_t* row, const BlockAct& act, int64_t t0, int64_t nt,
            float* acc) {
  const int off = kq_offset(type);
  const int64_t bytes = kq_block_bytes(type);
  KUnpacked u;
  __m512i w[4], ls[4];
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    unpack_kquant_simd(type, row + b * bytes, &u);
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u.sc));
    const __m512i sc32 = _mm512_cvtepi8_epi32(sc8);
    for (int c = 0; c < 4; ++c) {
      w[c] = _mm512_inserti64x4(_mm512_castsi256_si512(load256(u.q + 64 * c)), load256(u.q + 64 * c + 32), 1);
      ls[c] = lane_scales(sc32, c);
    }
    // Per 16: off * sc (removed from the dot) and the mins, against the int16 bsums.
    const __m256i corr = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(sc8), _mm256_set1_epi16(static_cast<int16_t>(off)));
    const __m256i mn = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u.mn)));
    for (int64_t t = 0; t < nt; ++t) {
      const auto& x = reinterpret_cast<const ActBlockK*>(act.data + (t0 + t) * act.row_bytes)[b];
      __m512i s = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) {
        const __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[c], load512(x.qs + 64 * c));
        s = _mm512_add_epi32(s, _mm512_mullo_epi32(dp, ls[c]));
      }
      const __m256i bs = load256(x.bsums);
      const int32_t si = _mm512_reduce_add_epi32(s) - hsum_i32_8(_mm256_madd_epi16(bs, corr));
      acc[t] = combine_k(acc[t], u.d, u.dmin, x.d, si, hsum_i32_8(_mm256_madd_epi16(bs, mn)));
    }
  }
}

void legacy_tile(GgmlType type, const uint8_t* row, const BlockAct& act, int64_t t0, int64_t nt,
                 float* acc) {
  const int off = legacy_offset(type);
  const bool has_min = legacy_has_min(type);
  const int64_t bytes = legacy_block_bytes(type);
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    float d, m;
    const __m256i w = unpack_legacy_simd(type, row + b * bytes, &d, &m);
    for (int64_t t = 0; t < nt; ++t) {
      const auto& x = reinterpret_cast<const ActBlock32*>(act.data + (t0 + t) * act.row_bytes)[b];
      const __m256i dp = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, load256(x.qs));
      acc[t] = combine_legacy(acc[t], d, m, x, hsum_i32_8(dp) - off * x.sum, has_min);
    }
  }
}

}  // namespace

void block_rows_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (block_rows_fast_avx512(a, r0, r1)) return;
  const BlockAct& act = *a.bact;
  const bool k = is_k_quant(a.w.type);
  const auto* base = static_cast<const uint8_t*>(a.w.data);
  for (int64_t o = r0; o < r1; ++o) {
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kTileTokens) {
      const int64_t nt = std::min(kTileTokens, a.n_tokens - t0);
      float acc[kTileTokens] = {};
      if (k) {
        k_tile(a.w.type, base + o * a.w.row_bytes, act, t0, nt, acc);
      } else {
        legacy_tile(a.w.type, base + o * a.w.row_bytes, act, t0, nt, acc);
      }
      for (int64_t t = 0; t < nt; ++t) a.y[(t0 + t) * a.w.n_out + o] = acc[t];
    }
  }
}

}  // namespace rs::engine::kern
