// AVX-512 VNNI kernel for Q4_K weights in the packed layout (weight_pack.h): 16 rows in
// the 16 lanes. Per chunk of 8 elements one load and two masks unpack 16 rows' nibbles; a
// vpdpbusd against one broadcast activation dword adds 4 products per row. Each row's
// super-block sum is exact in integers, as in the scalar path: s = sum_j sc_j * dot_j
// (vpmulld per 32-element sub-block) and mins = sum_j mn_j * bsum32_j (vpdpwssd), then
// one float step per super-block with the scalar path's operations in its order
// (combine_k; no fused multiply-add), so results equal the scalar path bit for bit and do
// not depend on the tile, the batch or the thread split.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "blockdot.h"
#include "weight_pack.h"

namespace rs::engine::kern {

namespace {

constexpr int kTile = 8;             // tokens per pass over a group's super-blocks
constexpr int64_t kTokenChunk = 64;  // tokens whose activations stay in L2 (multiple of kTile)
constexpr int64_t kPrefetchBytes = 2 * static_cast<int64_t>(sizeof(PackedQ4K));  // into L2 (T1)
constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// acc + (d * dx) * s - (dmin * dx) * mins, lane by lane, rounded as combine_k.
inline __m512 combine(__m512 acc, __m512 d, __m512 dmin, float dx, __m512i s, __m512i mins) {
  const __m512 vdx = _mm512_set1_ps(dx);
  acc = _mm512_add_round_ps(acc, _mm512_mul_round_ps(_mm512_mul_round_ps(d, vdx, kRound), _mm512_cvtepi32_ps(s), kRound), kRound);
  return _mm512_sub_round_ps(acc, _mm512_mul_round_ps(_mm512_mul_round_ps(dmin, vdx, kRound), _mm512_cvtepi32_ps(mins), kRound), kRound);
}

// Tokens x[0..T) against one group's n_blocks super-blocks; out[t * out_stride + r].
template <int T>
void q4_k_tile(const PackedQ4K* grp, int64_t n_blocks, const ActBlockK* const* x, float* out,
               int64_t out_stride) {
  const __m512i low = _mm512_set1_epi8(15);
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const PackedQ4K& p = grp[b];
    const auto* ahead = reinterpret_cast<const char*>(&p) + kPrefetchBytes;
    __m512i s[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) s[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      __m512i dot[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) dot[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int c = 4 * j; c < 4 * j + 4; ++c) {
        _mm_prefetch(ahead + 64 * c, _MM_HINT_T1);
        const __m512i q = _mm512_load_si512(p.qs + 64 * c);
        const __m512i lo = _mm512_and_si512(q, low);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const int8_t* a = x[t][b].qs + 8 * c;
          dot[t] = _mm512_dpbusd_epi32(dot[t], lo, _mm512_set1_epi32(load_i32(a)));
          dot[t] = _mm512_dpbusd_epi32(dot[t], hi, _mm512_set1_epi32(load_i32(a + 4)));
        }
      }
      const __m512i sc = _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(p.sc[j])));
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) s[t] = _mm512_add_epi32(s[t], _mm512_mullo_epi32(dot[t], sc));
    }
    for (int l = 2048; l < static_cast<int>(sizeof(PackedQ4K)); l += 64) _mm_prefetch(ahead + l, _MM_HINT_T1);
    __m512i mn[4];
    for (int q = 0; q < 4; ++q) mn[q] = _mm512_cvtepu8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.mn[q])));
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.d)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.dmin)));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const ActBlockK& xb = x[t][b];
      __m512i m = _mm512_setzero_si512();
      for (int q = 0; q < 4; ++q) m = _mm512_dpwssd_epi32(m, mn[q], _mm512_set1_epi32(load_i32(xb.bsum32 + 2 * q)));
      acc[t] = combine(acc[t], d, dmin, xb.d, s[t], m);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(out + t * out_stride, acc[t]);
}

void q4_k_tokens(int nt, const PackedQ4K* grp, int64_t n_blocks, const ActBlockK* const* x,
                 float* out, int64_t out_stride) {
  switch (nt) {
    case 8: return q4_k_tile<8>(grp, n_blocks, x, out, out_stride);
    case 7: return q4_k_tile<7>(grp, n_blocks, x, out, out_stride);
    case 6: return q4_k_tile<6>(grp, n_blocks, x, out, out_stride);
    case 5: return q4_k_tile<5>(grp, n_blocks, x, out, out_stride);
    case 4: return q4_k_tile<4>(grp, n_blocks, x, out, out_stride);
    case 3: return q4_k_tile<3>(grp, n_blocks, x, out, out_stride);
    case 2: return q4_k_tile<2>(grp, n_blocks, x, out, out_stride);
    default: return q4_k_tile<1>(grp, n_blocks, x, out, out_stride);
  }
}

}  // namespace

bool block_rows_packed_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (a.w.packed == nullptr || !packable(a.w)) return false;
  const BlockAct& act = *a.bact;
  const auto* packed = static_cast<const PackedQ4K*>(a.w.packed);
  const ActBlockK* x[kTile];
  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += kTokenChunk) {
    const int64_t c1 = std::min(a.n_tokens, c0 + kTokenChunk);
    for (int64_t g = r0 / kPackRows; g < r1 / kPackRows; ++g) {
      const PackedQ4K* grp = packed + g * act.n_blocks;
      for (int64_t t0 = c0; t0 < c1; t0 += kTile) {
        const int nt = static_cast<int>(std::min<int64_t>(kTile, c1 - t0));
        for (int t = 0; t < nt; ++t) x[t] = reinterpret_cast<const ActBlockK*>(act.data + (t0 + t) * act.row_bytes);
        q4_k_tokens(nt, grp, act.n_blocks, x, a.y + t0 * a.w.n_out + g * kPackRows, a.w.n_out);
      }
    }
  }
  return true;
}

}  // namespace rs::engine::kern
