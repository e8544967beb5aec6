// AVX-512 VNNI kernels for the two hot K-quants, Q4_K and Q6_K: each super-block is
// unpacked in registers (nibbles by shift and mask, no scratch) once for a tile of up to
// kTile tokens; per token, maddubs (unsigned weights x signed activations, no saturation
// for 4/6-bit values) then vpdpwssd with the per-sub-block scales accumulates int32 lanes,
// converted and scaled by d_w * d_x per super-block into a float accumulator; mins (Q4_K)
// and the -32 offset (Q6_K) come from the activations' 16-element sums. Per token the
// arithmetic does not depend on the tile: batch invariant.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "blockdot.h"

namespace rs::engine::kern {

namespace {

constexpr int kTile = 4;
constexpr int kPrefetchBlocks = 4;  // super-blocks ahead

inline __m512i concat(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Index vectors for vpermw: 16-bit lane i of chunk c takes entry c * per + i / (32 / per).
template <int kPer>
inline __m512i scale_index(int c) {
  alignas(64) int16_t idx[32];
  for (int i = 0; i < 32; ++i) idx[i] = static_cast<int16_t>(c * kPer + i / (32 / kPer));
  return _mm512_load_si512(idx);
}

struct Q4KBlock {
  __m512i w[4];    // unsigned 4-bit values, elements 64c..64c+63
  __m512i sc[4];   // int16 scale per 16-bit lane of maddubs output
  __m256i mn;      // int16 min of each 16-element group
  float d, dmin;
};

inline void load_q4_k(const uint8_t* blk, const __m512i* idx, Q4KBlock* k) {
  const __m256i low = _mm256_set1_epi8(15);
  for (int c = 0; c < 4; ++c) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
    k->w[c] = concat(_mm256_and_si256(v, low), _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
  }
  uint32_t a, b, e;
  std::memcpy(&a, blk + 4, 4);
  std::memcpy(&b, blk + 8, 4);
  std::memcpy(&e, blk + 12, 4);
  const uint64_t sc = (a & 0x3f3f3f3fu) | static_cast<uint64_t>((e & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
  const uint64_t mn = (b & 0x3f3f3f3fu) | static_cast<uint64_t>(((e >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u)) << 32;
  const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(sc))));
  for (int c = 0; c < 4; ++c) k->sc[c] = _mm512_permutexvar_epi16(idx[c], sc16);
  const __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(mn)));
  k->mn = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
  k->d = _cvtsh_ss(load_u16(blk));
  k->dmin = _cvtsh_ss(load_u16(blk + 2));
}

struct Q6KBlock {
  __m512i w[4];   // unsigned 6-bit values (q + 32)
  __m512i sc[4];
  __m256i corr;   // 32 * scale per 16-element group (int16)
  float d;
};

inline void load_q6_k(const uint8_t* blk, const __m512i* idx, Q6KBlock* k) {
  const __m512i low = _mm512_set1_epi8(15);
  const __m512i hi2 = _mm512_set1_epi8(0x30);
  for (int h = 0; h < 2; ++h) {
    const __m512i l = _mm512_loadu_si512(blk + 64 * h);  // ql[64h .. 64h + 63]
    const __m256i hv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * h));
    const __m512i h_a = concat(_mm256_slli_epi16(hv, 4), _mm256_slli_epi16(hv, 2));
    const __m512i h_b = concat(hv, _mm256_srli_epi16(hv, 2));
    k->w[2 * h] = _mm512_or_si512(_mm512_and_si512(l, low), _mm512_and_si512(h_a, hi2));
    k->w[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low), _mm512_and_si512(h_b, hi2));
  }
  const __m128i s8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192));
  const __m256i s16 = _mm256_cvtepi8_epi16(s8);
  const __m512i sc16 = _mm512_castsi256_si512(s16);
  for (int c = 0; c < 4; ++c) k->sc[c] = _mm512_permutexvar_epi16(idx[c], sc16);
  k->corr = _mm256_slli_epi16(s16, 5);
  k->d = _cvtsh_ss(load_u16(blk + 208));
}

// sum_c scale * (w . x) over one super-block's 4 chunks, 16 int32 lanes.
inline __m512i block_dot(const __m512i* w, const __m512i* sc, const int8_t* x) {
  __m512i acc = _mm512_setzero_si512();
  for (int c = 0; c < 4; ++c) {
    const __m512i p16 = _mm512_maddubs_epi16(w[c], _mm512_loadu_si512(x + 64 * c));
    acc = _mm512_dpwssd_epi32(acc, p16, sc[c]);
  }
  return acc;
}

template <int T>
void q4_k_tile(const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  __m512i idx[4];
  for (int c = 0; c < 4; ++c) idx[c] = scale_index<2>(c);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  Q4KBlock k;
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(row + (b + kPrefetchBlocks) * 144), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(row + (b + kPrefetchBlocks) * 144 + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(row + (b + kPrefetchBlocks) * 144 + 128), _MM_HINT_T0);
    load_q4_k(row + b * 144, idx, &k);
    for (int t = 0; t < T; ++t) {
      const auto& x = reinterpret_cast<const ActBlockK*>(act.data + (t0 + t) * act.row_bytes)[b];
      const __m512i s = block_dot(k.w, k.sc, x.qs);
      const __m256i m = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums)), k.mn);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(k.d * x.d), acc[t]);
      acc[t] = _mm512_fmadd_ps(_mm512_zextps256_ps512(_mm256_cvtepi32_ps(m)), _mm512_set1_ps(-k.dmin * x.d), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = _mm512_reduce_add_ps(acc[t]);
}

template <int T>
void q6_k_tile(const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  __m512i idx[4];
  for (int c = 0; c < 4; ++c) idx[c] = scale_index<4>(c);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  Q6KBlock k;
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    for (int l = 0; l < 4; ++l) {
      _mm_prefetch(reinterpret_cast<const char*>(row + (b + kPrefetchBlocks) * 210 + 64 * l), _MM_HINT_T0);
    }
    load_q6_k(row + b * 210, idx, &k);
    for (int t = 0; t < T; ++t) {
      const auto& x = reinterpret_cast<const ActBlockK*>(act.data + (t0 + t) * act.row_bytes)[b];
      const __m512i s = block_dot(k.w, k.sc, x.qs);
      const __m256i c = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums)), k.corr);
      const __m512i si = _mm512_sub_epi32(s, _mm512_zextsi256_si512(c));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(si), _mm512_set1_ps(k.d * x.d), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = _mm512_reduce_add_ps(acc[t]);
}

template <int T>
void tile(GgmlType type, const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  if (type == GgmlType::kQ4_K) {
    q4_k_tile<T>(row, act, t0, out);
  } else {
    q6_k_tile<T>(row, act, t0, out);
  }
}

}  // namespace

bool block_rows_fast_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (a.w.type != GgmlType::kQ4_K && a.w.type != GgmlType::kQ6_K) return false;
  const BlockAct& act = *a.bact;
  const auto* base = static_cast<const uint8_t*>(a.w.data);
  float out[kTile];
  for (int64_t o = r0; o < r1; ++o) {
    const uint8_t* row = base + o * a.w.row_bytes;
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kTile) {
      const int64_t nt = std::min<int64_t>(kTile, a.n_tokens - t0);
      switch (nt) {
        case 4: tile<4>(a.w.type, row, act, t0, out); break;
        case 3: tile<3>(a.w.type, row, act, t0, out); break;
        case 2: tile<2>(a.w.type, row, act, t0, out); break;
        default: tile<1>(a.w.type, row, act, t0, out); break;
      }
      for (int64_t t = 0; t < nt; ++t) a.y[(t0 + t) * a.w.n_out + o] = out[t];
    }
  }
  return true;
}

}  // namespace rs::engine::kern
