// AVX2 block-dot rows (see blockdot.h): each weight block is unpacked once and dotted
// with up to kTileTokens tokens; signed weights with maddubs and the sign trick, the
// per-16 scales applied by madd_epi16. Integer sums equal the scalar path's exactly.
// Compiled with -mavx2 -mfma -mf16c; used only after a run-time CPU check.
#include <immintrin.h>

#include <algorithm>

#include "kq_unpack_simd.h"

namespace rs::engine::kern {

namespace {

constexpr int64_t kTileTokens = 16;
constexpr int64_t kTokenChunk = 64;  // multiple of kTileTokens

// sum over 32 bytes of w_signed * x, scaled per 16 by (sc_lo, sc_hi), as 8 int32 lanes.
inline __m256i dot32(__m256i aw, __m256i ws, const int8_t* x, __m256i sc16) {
  const __m256i p16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(load256(x), ws));
  return _mm256_madd_epi16(p16, sc16);
}

void k_tile(GgmlType type, const uint8_t* row, const BlockAct& act, int64_t t0, int64_t nt,
            float* acc) {
  const __m256i off = _mm256_set1_epi8(static_cast<char>(kq_offset(type)));
  const int64_t bytes = kq_block_bytes(type);
  KUnpacked u;
  __m256i ws[8], aw[8], sc[8];
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    unpack_kquant_simd(type, row + b * bytes, &u);
    for (int c = 0; c < 8; ++c) {
      ws[c] = _mm256_sub_epi8(load256(u.q + 32 * c), off);
      aw[c] = _mm256_abs_epi8(ws[c]);
      sc[c] = _mm256_set_m128i(_mm_set1_epi16(u.sc[2 * c + 1]), _mm_set1_epi16(u.sc[2 * c]));
    }
    const __m256i mn = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u.mn)));
    for (int64_t t = 0; t < nt; ++t) {
      const auto& x = reinterpret_cast<const ActBlockK*>(act.data + (t0 + t) * act.row_bytes)[b];
      __m256i s = dot32(aw[0], ws[0], x.qs, sc[0]);
      for (int c = 1; c < 8; ++c) s = _mm256_add_epi32(s, dot32(aw[c], ws[c], x.qs + 32 * c, sc[c]));
      const __m256i bs = load256(x.bsums);
      acc[t] = combine_k(acc[t], u.d, u.dmin, x.d, hsum_i32_8(s), hsum_i32_8(_mm256_madd_epi16(bs, mn)));
    }
  }
}

void legacy_tile(GgmlType type, const uint8_t* row, const BlockAct& act, int64_t t0, int64_t nt,
                 float* acc) {
  const __m256i off = _mm256_set1_epi8(static_cast<char>(legacy_offset(type)));
  const __m256i ones = _mm256_set1_epi16(1);
  const bool has_min = legacy_has_min(type);
  const int64_t bytes = legacy_block_bytes(type);
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    float d, m;
    const __m256i ws = _mm256_sub_epi8(unpack_legacy_simd(type, row + b * bytes, &d, &m), off);
    const __m256i aw = _mm256_abs_epi8(ws);
    for (int64_t t = 0; t < nt; ++t) {
      const auto& x = reinterpret_cast<const ActBlock32*>(act.data + (t0 + t) * act.row_bytes)[b];
      acc[t] = combine_legacy(acc[t], d, m, x, hsum_i32_8(dot32(aw, ws, x.qs, ones)), has_min);
    }
  }
}

}  // namespace

void block_rows_avx2(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const BlockAct& act = *a.bact;
  const bool k = is_k_quant(a.w.type);
  const auto* base = static_cast<const uint8_t*>(a.w.data);
  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += kTokenChunk) {  // activations stay in L2
    const int64_t c1 = std::min(a.n_tokens, c0 + kTokenChunk);
    for (int64_t o = r0; o < r1; ++o) {
      for (int64_t t0 = c0; t0 < c1; t0 += kTileTokens) {
        const int64_t nt = std::min(kTileTokens, c1 - t0);
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
}

}  // namespace rs::engine::kern
