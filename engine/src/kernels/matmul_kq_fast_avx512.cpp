// AVX-512 VNNI kernels for the K-quants. Q4_K and Q6_K super-blocks are unpacked in
// registers (dword permutes, per-lane shifts and masks; no scratch) straight into the
// group-transposed order of ActBlockK::qt; Q2_K, Q3_K, Q5_K through the portable-layout
// unpacker, then transposed. Once per super-block for a tile of up to kTile tokens.
// Per token: four vpdpbusd (unsigned weights x signed activations) leave each 16-element
// group's integer dot in one 32-bit lane; converted to float, scaled by d_w * scale per
// lane and d_x, accumulated per token; mins (Q4_K) and the -32 offset (Q6_K) come from
// xb = d_x * group sums. Per token the arithmetic does not depend on the tile (batch
// invariant); results differ from the scalar path by float rounding only.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kq_unpack_simd.h"

namespace rs::engine::kern {

namespace {

constexpr int kTile = 8;
constexpr int kPrefetchBlocks = 4;  // super-blocks ahead

// Lane L of chunk c (L = 16-element group, bytes 4c..4c+3 of it): where its 4 bytes are.
struct Q4KIndex {
  __m512i word[4];  // dword of qs (0..31, two registers)
  __m512i shift;    // nibble of group L: 4 * ((L / 2) % 2)
  Q4KIndex() {
    alignas(64) int32_t w[4][16], s[16];
    for (int L = 0; L < 16; ++L) {
      for (int c = 0; c < 4; ++c) w[c][L] = 8 * (L / 4) + 4 * (L % 2) + c;
      s[L] = 4 * ((L / 2) % 2);
    }
    for (int c = 0; c < 4; ++c) word[c] = _mm512_load_si512(w[c]);
    shift = _mm512_load_si512(s);
  }
};

struct Q6KIndex {
  __m512i low_word[4];   // dword of ql (0..31)
  __m512i high_word[4];  // dword of qh (0..15)
  __m512i low_shift;     // 4 * (k / 2), k = (L / 2) % 4
  __m512i high_shift;    // 2 * k
  Q6KIndex() {
    alignas(64) int32_t lw[4][16], hw[4][16], ls[16], hs[16];
    for (int L = 0; L < 16; ++L) {
      const int h = L / 8, k = (L / 2) % 4, odd = L % 2;
      for (int c = 0; c < 4; ++c) {
        lw[c][L] = 16 * h + 8 * (k % 2) + 4 * odd + c;
        hw[c][L] = 8 * h + 4 * odd + c;
      }
      ls[L] = 4 * (k / 2);
      hs[L] = 2 * k;
    }
    for (int c = 0; c < 4; ++c) {
      low_word[c] = _mm512_load_si512(lw[c]);
      high_word[c] = _mm512_load_si512(hw[c]);
    }
    low_shift = _mm512_load_si512(ls);
    high_shift = _mm512_load_si512(hs);
  }
};

// One super-block ready for the token loop: weights in qt order, per-lane float factors.
struct KBlock {
  __m512i w[4];
  __m512 dsc;   // d * scale of lane L's group
  __m512 dmn;   // dmin * min (Q4_K) or 32 * d * scale (Q6_K): subtracted times xb
};

inline __m512 bytes_to_ps_u8(__m128i b) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)); }

inline void load_q4_k(const uint8_t* blk, const Q4KIndex& ix, KBlock* k) {
  const __m512i q0 = _mm512_loadu_si512(blk + 16);
  const __m512i q1 = _mm512_loadu_si512(blk + 80);
  const __m512i low = _mm512_set1_epi8(15);
  for (int c = 0; c < 4; ++c) {
    k->w[c] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutex2var_epi32(q0, ix.word[c], q1), ix.shift), low);
  }
  uint32_t a, b, e;
  std::memcpy(&a, blk + 4, 4);
  std::memcpy(&b, blk + 8, 4);
  std::memcpy(&e, blk + 12, 4);
  const uint64_t sc = (a & 0x3f3f3f3fu) | static_cast<uint64_t>((e & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
  const uint64_t mn = (b & 0x3f3f3f3fu) | static_cast<uint64_t>(((e >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u)) << 32;
  const __m128i sc8 = _mm_cvtsi64_si128(static_cast<int64_t>(sc));
  const __m128i mn8 = _mm_cvtsi64_si128(static_cast<int64_t>(mn));
  k->dsc = _mm512_mul_ps(bytes_to_ps_u8(_mm_unpacklo_epi8(sc8, sc8)), _mm512_set1_ps(_cvtsh_ss(load_u16(blk))));
  k->dmn = _mm512_mul_ps(bytes_to_ps_u8(_mm_unpacklo_epi8(mn8, mn8)), _mm512_set1_ps(_cvtsh_ss(load_u16(blk + 2))));
}

inline void load_q6_k(const uint8_t* blk, const Q6KIndex& ix, KBlock* k) {
  const __m512i l0 = _mm512_loadu_si512(blk);
  const __m512i l1 = _mm512_loadu_si512(blk + 64);
  const __m512i h = _mm512_loadu_si512(blk + 128);
  const __m512i low = _mm512_set1_epi8(15);
  const __m512i two = _mm512_set1_epi8(3);
  for (int c = 0; c < 4; ++c) {
    const __m512i lo = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutex2var_epi32(l0, ix.low_word[c], l1), ix.low_shift), low);
    const __m512i hi = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(ix.high_word[c], h), ix.high_shift), two);
    k->w[c] = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 4));
  }
  const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192))));
  k->dsc = _mm512_mul_ps(sc, _mm512_set1_ps(_cvtsh_ss(load_u16(blk + 208))));
  k->dmn = _mm512_mul_ps(k->dsc, _mm512_set1_ps(32.0f));
}

// Any K-quant: unpacked bytes (natural order) transposed to qt order; the offset (Q3_K)
// or mins (Q2_K, Q5_K) as dmn.
inline void load_generic(GgmlType type, const uint8_t* blk, KBlock* k) {
  KUnpacked u;
  unpack_kquant_simd(type, blk, &u);
  __m512i n[4];  // 256-bit halves: the unpacker stored 32 bytes at a time
  for (int i = 0; i < 4; ++i) {
    n[i] = _mm512_inserti64x4(_mm512_castsi256_si512(load256(u.q + 64 * i)), load256(u.q + 64 * i + 32), 1);
  }
  for (int c = 0; c < 4; ++c) {
    // Lane L of chunk c is dword 4L + c of the 64: lanes 0-7 from n[0..1], 8-15 from n[2..3].
    const __m512i idx = _mm512_and_si512(_mm512_add_epi32(_mm512_set1_epi32(c), _mm512_slli_epi32(
                                             _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 2)),
                                         _mm512_set1_epi32(31));
    k->w[c] = _mm512_mask_blend_epi32(0xff00, _mm512_permutex2var_epi32(n[0], idx, n[1]),
                                      _mm512_permutex2var_epi32(n[2], idx, n[3]));
  }
  k->dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u.sc)))),
                         _mm512_set1_ps(u.d));
  if (type == GgmlType::kQ3_K) {
    k->dmn = _mm512_mul_ps(k->dsc, _mm512_set1_ps(static_cast<float>(kq_offset(type))));
  } else {
    k->dmn = _mm512_mul_ps(bytes_to_ps_u8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u.mn))), _mm512_set1_ps(u.dmin));
  }
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

// kType: Q4_K, Q6_K, or Q2_K standing for any other K-quant (type).
template <int T, GgmlType kType>
void k_tile(GgmlType type, const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  const int64_t kBytes = kq_block_bytes(type);
  static const Q4KIndex q4_index;
  static const Q6KIndex q6_index;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const ActBlockK* x[T];
  for (int t = 0; t < T; ++t) x[t] = reinterpret_cast<const ActBlockK*>(act.data + (t0 + t) * act.row_bytes);
  KBlock k;
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    const uint8_t* next = row + (b + kPrefetchBlocks) * kBytes;
    for (int64_t l = 0; l < kBytes; l += 64) _mm_prefetch(reinterpret_cast<const char*>(next + l), _MM_HINT_T0);
    if constexpr (kType == GgmlType::kQ4_K) {
      load_q4_k(row + b * kBytes, q4_index, &k);
    } else if constexpr (kType == GgmlType::kQ6_K) {
      load_q6_k(row + b * kBytes, q6_index, &k);
    } else {
      load_generic(type, row + b * kBytes, &k);
    }
    for (int t = 0; t < T; ++t) acc[t] = token_step(k, x[t][b], acc[t]);
  }
  for (int t = 0; t < T; ++t) out[t] = _mm512_reduce_add_ps(acc[t]);
}

template <GgmlType kType>
void tile(GgmlType type, int64_t nt, const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  switch (nt) {
    case 8: k_tile<8, kType>(type, row, act, t0, out); break;
    case 7: k_tile<7, kType>(type, row, act, t0, out); break;
    case 6: k_tile<6, kType>(type, row, act, t0, out); break;
    case 5: k_tile<5, kType>(type, row, act, t0, out); break;
    case 4: k_tile<4, kType>(type, row, act, t0, out); break;
    case 3: k_tile<3, kType>(type, row, act, t0, out); break;
    case 2: k_tile<2, kType>(type, row, act, t0, out); break;
    default: k_tile<1, kType>(type, row, act, t0, out); break;
  }
}

void tile_any(GgmlType type, int64_t nt, const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  if (type == GgmlType::kQ4_K) {
    tile<GgmlType::kQ4_K>(type, nt, row, act, t0, out);
  } else if (type == GgmlType::kQ6_K) {
    tile<GgmlType::kQ6_K>(type, nt, row, act, t0, out);
  } else {
    tile<GgmlType::kQ2_K>(type, nt, row, act, t0, out);
  }
}

}  // namespace

bool block_rows_fast_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (!is_k_quant(a.w.type)) return false;
  const BlockAct& act = *a.bact;
  const auto* base = static_cast<const uint8_t*>(a.w.data);
  float out[kTile];
  for (int64_t o = r0; o < r1; ++o) {
    const uint8_t* row = base + o * a.w.row_bytes;
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kTile) {
      const int64_t nt = std::min<int64_t>(kTile, a.n_tokens - t0);
      tile_any(a.w.type, nt, row, act, t0, out);
      for (int64_t t = 0; t < nt; ++t) a.y[(t0 + t) * a.w.n_out + o] = out[t];
    }
  }
  return true;
}

}  // namespace rs::engine::kern
