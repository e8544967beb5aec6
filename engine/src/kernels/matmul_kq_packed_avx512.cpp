// AVX-512 VNNI kernels for Q4_K and Q6_K weights in the packed layout (weight_pack.h):
// 16 rows in the 16 lanes. Per chunk of 8 elements one load and two masks unpack 16 rows' nibbles; a
// vpdpbusd against one broadcast activation dword adds 4 products per row. Each row's
// super-block sum is exact in integers, as in the scalar path: s = sum_j sc_j * dot_j
// (vpmulld per 32-element sub-block; Q6_K: per 16-element group, less 32 * sum_g sc_g *
// bsum_g) and mins = sum_j mn_j * bsum32_j (vpdpwssd), then
// one float step per super-block with the scalar path's operations in its order
// (combine_k; no fused multiply-add), so results equal the scalar path bit for bit and do
// not depend on the tile, the batch or the thread split.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

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

// Lane r of a widened (int16 pair) vector: its low (high = false) or high int16 as int32.
inline __m512i pair_half(__m512i pairs, bool high) {
  return high ? _mm512_srai_epi32(pairs, 16) : _mm512_srai_epi32(_mm512_slli_epi32(pairs, 16), 16);
}

// (a & 15) | (b & 0x30) per byte.
inline __m512i low4_high2(__m512i a, __m512i b) {
  return _mm512_ternarylogic_epi32(a, _mm512_and_si512(b, _mm512_set1_epi8(0x30)), _mm512_set1_epi8(15), 0xE4);
}

// Q6_K: s = sum_g sc_g * dot_g - 32 * sum_g sc_g * bsum_g (the values are stored + 32).
template <int T>
void q6_k_tile(const PackedQ6K* grp, int64_t n_blocks, const ActBlockK* const* x, float* out,
               int64_t out_stride) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = zero;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const PackedQ6K& p = grp[b];
    const auto* ahead = reinterpret_cast<const char*>(&p) + 2 * static_cast<int64_t>(sizeof(PackedQ6K));
    __m512i s[T], corr[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) s[t] = corr[t] = _mm512_setzero_si512();
    for (int q = 0; q < 8; ++q) {
      const __m512i pairs = _mm512_cvtepi8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.sc[q])));
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) corr[t] = _mm512_dpwssd_epi32(corr[t], pairs, _mm512_set1_epi32(load_i32(x[t][b].bsums + 2 * q)));
#pragma GCC unroll 2
      for (int g = 2 * q; g < 2 * q + 2; ++g) {
        _mm_prefetch(ahead + 128 * g, _MM_HINT_T1);
        _mm_prefetch(ahead + 128 * g + 64, _MM_HINT_T1);
        _mm_prefetch(ahead + 2048 + 64 * g, _MM_HINT_T1);
        const __m512i q0 = _mm512_load_si512(p.ql + 128 * g);
        const __m512i q1 = _mm512_load_si512(p.ql + 128 * g + 64);
        const __m512i h = _mm512_load_si512(p.qh + 64 * g);
        const __m512i w0 = low4_high2(q0, _mm512_slli_epi16(h, 4));
        const __m512i w1 = low4_high2(_mm512_srli_epi16(q0, 4), _mm512_slli_epi16(h, 2));
        const __m512i w2 = low4_high2(q1, h);
        const __m512i w3 = low4_high2(_mm512_srli_epi16(q1, 4), _mm512_srli_epi16(h, 2));
        const __m512i sc = pair_half(pairs, g % 2 == 1);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const int8_t* a = x[t][b].qs + 16 * g;
          __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w0, _mm512_set1_epi32(load_i32(a)));
          dot = _mm512_dpbusd_epi32(dot, w1, _mm512_set1_epi32(load_i32(a + 4)));
          dot = _mm512_dpbusd_epi32(dot, w2, _mm512_set1_epi32(load_i32(a + 8)));
          dot = _mm512_dpbusd_epi32(dot, w3, _mm512_set1_epi32(load_i32(a + 12)));
          s[t] = _mm512_add_epi32(s[t], _mm512_mullo_epi32(dot, sc));
        }
      }
    }
    _mm_prefetch(ahead + 3072, _MM_HINT_T1);
    _mm_prefetch(ahead + 3136, _MM_HINT_T1);
    _mm_prefetch(ahead + 3200, _MM_HINT_T1);
    _mm_prefetch(ahead + 3264, _MM_HINT_T1);
    _mm_prefetch(ahead + 3328, _MM_HINT_T1);
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.d)));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512i total = _mm512_sub_epi32(s[t], _mm512_slli_epi32(corr[t], 5));
      acc[t] = combine(acc[t], d, zero, x[t][b].d, total, _mm512_setzero_si512());
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(out + t * out_stride, acc[t]);
}

template <typename Block>
void tokens(int nt, const Block* grp, int64_t n_blocks, const ActBlockK* const* x, float* out,
            int64_t out_stride) {
  auto tile = [&]<int T>() {
    if constexpr (std::is_same_v<Block, PackedQ4K>) {
      q4_k_tile<T>(grp, n_blocks, x, out, out_stride);
    } else {
      q6_k_tile<T>(grp, n_blocks, x, out, out_stride);
    }
  };
  switch (nt) {
    case 8: return tile.template operator()<8>();
    case 7: return tile.template operator()<7>();
    case 6: return tile.template operator()<6>();
    case 5: return tile.template operator()<5>();
    case 4: return tile.template operator()<4>();
    case 3: return tile.template operator()<3>();
    case 2: return tile.template operator()<2>();
    default: return tile.template operator()<1>();
  }
}

template <typename Block>
void rows(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const BlockAct& act = *a.bact;
  const auto* packed = static_cast<const Block*>(a.w.packed);
  const ActBlockK* x[kTile];
  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += kTokenChunk) {
    const int64_t c1 = std::min(a.n_tokens, c0 + kTokenChunk);
    for (int64_t g = r0 / kPackRows; g < r1 / kPackRows; ++g) {
      const Block* grp = packed + g * act.n_blocks;
      for (int64_t t0 = c0; t0 < c1; t0 += kTile) {
        const int nt = static_cast<int>(std::min<int64_t>(kTile, c1 - t0));
        for (int t = 0; t < nt; ++t) x[t] = reinterpret_cast<const ActBlockK*>(act.data + (t0 + t) * act.row_bytes);
        tokens(nt, grp, act.n_blocks, x, a.y + t0 * a.w.n_out + g * kPackRows, a.w.n_out);
      }
    }
  }
}

}  // namespace

bool block_rows_packed_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (a.w.packed == nullptr || !packable(a.w)) return false;
  if (a.w.type == GgmlType::kQ4_K) {
    rows<PackedQ4K>(a, r0, r1);
  } else {
    rows<PackedQ6K>(a, r0, r1);
  }
  return true;
}

}  // namespace rs::engine::kern
