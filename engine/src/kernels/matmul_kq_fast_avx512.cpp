// AVX-512 VNNI kernels for the K-quants (Q2_K..Q6_K). Each super-block is unpacked in
// registers (dword permutes, per-lane shifts and masks; no scratch) straight into the
// group-transposed order of ActBlockK::qt, once for a tile of up to kTile tokens.
// Per token: four vpdpbusd (unsigned weights x signed activations) leave each 16-element
// group's integer dot in one 32-bit lane; converted to float, scaled by d_w * scale per
// lane and d_x, accumulated per token; the mins (Q2_K, Q4_K, Q5_K) and the value offsets
// (Q3_K +4, Q6_K +32) come from xb = d_x * group sums. Per token the arithmetic does not depend on the tile (batch
// invariant); results differ from the scalar path by float rounding only.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kq_unpack_simd.h"  // load256, the K-quant layouts
#include "simd_reduce.h"

namespace rs::engine::kern {

namespace {

constexpr int kTile = 16;
constexpr int kPrefetchBlocks = 4;  // super-blocks ahead, into L2 (T1)
constexpr int64_t kTokenChunk = 64;  // multiple of kTile

// Lane L of chunk c (L = 16-element group, its bytes 4c..4c+3): the dword of the packed
// bits holding them and the shift to their bits, per packing.
struct KIndex {
  __m512i nib_word[4], nib_shift;      // Q4_K/Q5_K nibbles (qs, 32 dwords), Q6_K low nibbles
  __m512i bit_word[4], bit_shift;      // one high bit per byte (Q5_K qh, Q3_K hmask; 8 dwords)
  __m512i crumb_word[4], crumb_shift;  // 2-bit fields (Q2_K/Q3_K qs, Q6_K qh; 16 dwords)
  __m512i q6_word[4], q6_shift;        // Q6_K ql (32 dwords)
  KIndex() {
    alignas(64) int32_t w[4][4][16], sh[4][16];
    for (int L = 0; L < 16; ++L) {
      const int odd = L % 2, half = L / 8, k = (L / 2) % 4;
      for (int c = 0; c < 4; ++c) {
        w[0][c][L] = 8 * (L / 4) + 4 * odd + c;
        w[1][c][L] = 4 * odd + c;
        w[2][c][L] = 8 * half + 4 * odd + c;
        w[3][c][L] = 16 * half + 8 * (k % 2) + 4 * odd + c;
      }
      sh[0][L] = 4 * ((L / 2) % 2);
      sh[1][L] = L / 2;
      sh[2][L] = 2 * k;
      sh[3][L] = 4 * (k / 2);
    }
    __m512i* words[4] = {nib_word, bit_word, crumb_word, q6_word};
    __m512i* shifts[4] = {&nib_shift, &bit_shift, &crumb_shift, &q6_shift};
    for (int f = 0; f < 4; ++f) {
      for (int c = 0; c < 4; ++c) words[f][c] = _mm512_load_si512(w[f][c]);
      *shifts[f] = _mm512_load_si512(sh[f]);
    }
  }
};

// (dword >> shift) & mask per lane.
inline __m512i field(__m512i dwords, __m512i shift, int mask) {
  return _mm512_and_si512(_mm512_srlv_epi32(dwords, shift), _mm512_set1_epi8(static_cast<char>(mask)));
}

// One super-block ready for the token loop: weights in qt order, per-lane float factors.
struct KBlock {
  __m512i w[4];
  __m512 dsc;   // d * scale of lane L's group
  __m512 dmn;   // dmin * min (Q4_K) or 32 * d * scale (Q6_K): subtracted times xb
};

inline __m512 bytes_to_ps_u8(__m128i b) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)); }

// Q4_K (five = false) and Q5_K: nibbles at qs, Q5_K's fifth bits at qh (blk + 16).
inline void load_q45_k(const uint8_t* blk, bool five, const KIndex& ix, KBlock* k) {
  const uint8_t* qs = blk + (five ? 48 : 16);
  const __m512i q0 = _mm512_loadu_si512(qs);
  const __m512i q1 = _mm512_loadu_si512(qs + 64);
  for (int c = 0; c < 4; ++c) k->w[c] = field(_mm512_permutex2var_epi32(q0, ix.nib_word[c], q1), ix.nib_shift, 15);
  if (five) {
    const __m512i qh = _mm512_castsi256_si512(load256(blk + 16));
    for (int c = 0; c < 4; ++c) {
      const __m512i hb = field(_mm512_permutexvar_epi32(ix.bit_word[c], qh), ix.bit_shift, 1);
      k->w[c] = _mm512_or_si512(k->w[c], _mm512_slli_epi32(hb, 4));
    }
  }
  uint64_t sc, mn;
  scale_min_k4_bytes(blk + 4, &sc, &mn);
  const __m128i sc8 = _mm_cvtsi64_si128(static_cast<int64_t>(sc));
  const __m128i mn8 = _mm_cvtsi64_si128(static_cast<int64_t>(mn));
  k->dsc = _mm512_mul_ps(bytes_to_ps_u8(_mm_unpacklo_epi8(sc8, sc8)), _mm512_set1_ps(_cvtsh_ss(load_u16(blk))));
  k->dmn = _mm512_mul_ps(bytes_to_ps_u8(_mm_unpacklo_epi8(mn8, mn8)), _mm512_set1_ps(_cvtsh_ss(load_u16(blk + 2))));
}

inline void load_q6_k(const uint8_t* blk, const KIndex& ix, KBlock* k) {
  const __m512i l0 = _mm512_loadu_si512(blk);
  const __m512i l1 = _mm512_loadu_si512(blk + 64);
  const __m512i h = _mm512_loadu_si512(blk + 128);
  for (int c = 0; c < 4; ++c) {
    const __m512i lo = field(_mm512_permutex2var_epi32(l0, ix.q6_word[c], l1), ix.q6_shift, 15);
    const __m512i hi = field(_mm512_permutexvar_epi32(ix.crumb_word[c], h), ix.crumb_shift, 3);
    k->w[c] = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 4));
  }
  const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192))));
  k->dsc = _mm512_mul_ps(sc, _mm512_set1_ps(_cvtsh_ss(load_u16(blk + 208))));
  k->dmn = _mm512_mul_ps(k->dsc, _mm512_set1_ps(32.0f));
}

// Q2_K (three = false) and Q3_K: 2-bit fields at qs, Q3_K's third bits at hmask.
inline void load_q23_k(const uint8_t* blk, bool three, const KIndex& ix, KBlock* k) {
  const __m512i q = _mm512_loadu_si512(blk + (three ? 32 : 16));
  for (int c = 0; c < 4; ++c) k->w[c] = field(_mm512_permutexvar_epi32(ix.crumb_word[c], q), ix.crumb_shift, 3);
  if (three) {
    const __m512i hm = _mm512_castsi256_si512(load256(blk));
    for (int c = 0; c < 4; ++c) {
      const __m512i hb = field(_mm512_permutexvar_epi32(ix.bit_word[c], hm), ix.bit_shift, 1);
      k->w[c] = _mm512_or_si512(k->w[c], _mm512_slli_epi32(hb, 2));
    }
    const __m128i sc8 = q3_k_scales(blk + 96);
    k->dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc8)), _mm512_set1_ps(_cvtsh_ss(load_u16(blk + 108))));
    k->dmn = _mm512_mul_ps(k->dsc, _mm512_set1_ps(4.0f));  // values stored + 4
    return;
  }
  const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk));
  const __m128i low = _mm_set1_epi8(15);
  k->dsc = _mm512_mul_ps(bytes_to_ps_u8(_mm_and_si128(s, low)), _mm512_set1_ps(_cvtsh_ss(load_u16(blk + 80))));
  k->dmn = _mm512_mul_ps(bytes_to_ps_u8(_mm_and_si128(_mm_srli_epi16(s, 4), low)), _mm512_set1_ps(_cvtsh_ss(load_u16(blk + 82))));
}

// acc += d_x * (dsc . group dots) - dmn . xb, lane by lane.
inline __m512 token_step(const KBlock& k, const ActBlockK& x, __m512 acc) {
  __m512i g = _mm512_dpbusd_epi32(_mm512_setzero_si512(), k.w[0], _mm512_load_si512(x.qt));
  g = _mm512_dpbusd_epi32(g, k.w[1], _mm512_load_si512(x.qt + 64));
  g = _mm512_dpbusd_epi32(g, k.w[2], _mm512_load_si512(x.qt + 128));
  g = _mm512_dpbusd_epi32(g, k.w[3], _mm512_load_si512(x.qt + 192));
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(g), _mm512_mul_ps(k.dsc, _mm512_set1_ps(x.d)), acc);
  return _mm512_fnmadd_ps(_mm512_load_ps(x.xb), k.dmn, acc);
}

template <int T, GgmlType kType>
void k_tile(const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  constexpr int64_t kBytes = kq_block_bytes(kType);
  static const KIndex index;
  __m512 acc[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const ActBlockK* x[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) x[t] = reinterpret_cast<const ActBlockK*>(act.data + (t0 + t) * act.row_bytes);
  KBlock k;
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    // Past the row's end this prefetches the next row (prefetches never fault).
    const uint8_t* next = row + (b + kPrefetchBlocks) * kBytes;
    for (int64_t l = 0; l < kBytes; l += 64) _mm_prefetch(reinterpret_cast<const char*>(next + l), _MM_HINT_T1);
    const uint8_t* blk = row + b * kBytes;
    if constexpr (kType == GgmlType::kQ6_K) {
      load_q6_k(blk, index, &k);
    } else if constexpr (kType == GgmlType::kQ4_K || kType == GgmlType::kQ5_K) {
      load_q45_k(blk, kType == GgmlType::kQ5_K, index, &k);
    } else {
      load_q23_k(blk, kType == GgmlType::kQ3_K, index, &k);
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[t] = token_step(k, x[t][b], acc[t]);
  }
  // Four tokens per transposed reduction (each lane's sum independent of the others).
#pragma GCC unroll 4
  for (int t = 0; t < T; t += 4) {
    __m512 v[4];
    for (int r = 0; r < 4; ++r) v[r] = t + r < T ? acc[t + r] : _mm512_setzero_ps();
    alignas(16) float s[4];
    _mm_store_ps(s, hsum4_512(v[0], v[1], v[2], v[3]));
    for (int r = 0; r < 4 && t + r < T; ++r) out[t + r] = s[r];
  }
}

template <GgmlType kType>
void tile(int64_t nt, const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  switch (nt) {
    case 16: k_tile<16, kType>(row, act, t0, out); break;
    case 15: k_tile<15, kType>(row, act, t0, out); break;
    case 14: k_tile<14, kType>(row, act, t0, out); break;
    case 13: k_tile<13, kType>(row, act, t0, out); break;
    case 12: k_tile<12, kType>(row, act, t0, out); break;
    case 11: k_tile<11, kType>(row, act, t0, out); break;
    case 10: k_tile<10, kType>(row, act, t0, out); break;
    case 9: k_tile<9, kType>(row, act, t0, out); break;
    case 8: k_tile<8, kType>(row, act, t0, out); break;
    case 7: k_tile<7, kType>(row, act, t0, out); break;
    case 6: k_tile<6, kType>(row, act, t0, out); break;
    case 5: k_tile<5, kType>(row, act, t0, out); break;
    case 4: k_tile<4, kType>(row, act, t0, out); break;
    case 3: k_tile<3, kType>(row, act, t0, out); break;
    case 2: k_tile<2, kType>(row, act, t0, out); break;
    default: k_tile<1, kType>(row, act, t0, out); break;
  }
}

void tile_any(GgmlType type, int64_t nt, const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  switch (type) {
    case GgmlType::kQ2_K: tile<GgmlType::kQ2_K>(nt, row, act, t0, out); return;
    case GgmlType::kQ3_K: tile<GgmlType::kQ3_K>(nt, row, act, t0, out); return;
    case GgmlType::kQ4_K: tile<GgmlType::kQ4_K>(nt, row, act, t0, out); return;
    case GgmlType::kQ5_K: tile<GgmlType::kQ5_K>(nt, row, act, t0, out); return;
    default: tile<GgmlType::kQ6_K>(nt, row, act, t0, out); return;
  }
}

}  // namespace

bool block_rows_fast_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (!is_k_quant(a.w.type)) return false;
  const BlockAct& act = *a.bact;
  const auto* base = static_cast<const uint8_t*>(a.w.data);
  float out[kTile];
  // Long prefills: kTokenChunk tokens' activations stay in L2 while the rows go by.
  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += kTokenChunk) {
    const int64_t c1 = std::min(a.n_tokens, c0 + kTokenChunk);
    for (int64_t o = r0; o < r1; ++o) {
      const uint8_t* row = base + o * a.w.row_bytes;
      for (int64_t t0 = c0; t0 < c1; t0 += kTile) {
        const int64_t nt = std::min<int64_t>(kTile, c1 - t0);
        tile_any(a.w.type, nt, row, act, t0, out);
        for (int64_t t = 0; t < nt; ++t) a.y[(t0 + t) * a.w.n_out + o] = out[t];
      }
    }
  }
  return true;
}

}  // namespace rs::engine::kern
