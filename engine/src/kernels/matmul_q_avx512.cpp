// AVX-512 VNNI matmul for Q8_0/Q4_0 weights. A 512-bit vector holds one weight block twice
// (broadcast) against the same block of two tokens (the token-pair activation layout), so
// each token's 8 lanes see exactly the AVX2 path's arithmetic: int32 sums of 4 products,
// acc = fma(d_w * d_x, float(sum), acc) block after block, the same 8-lane reduction.
// Results are bit-identical to the AVX2 path and batch invariant. Activations are stored
// as uint8 = int8 + 128: vpdpbusd(x + 128, w) - 128 * sum(w) is the exact block dot.
// Up to 16 tokens (weights read straight from the ggml blocks) the roles swap: the weights
// go in as uint8 (Q8_0: w + 128; Q4_0: the nibble itself, w + 8) against a signed copy of
// the activations, and the accumulator starts at -128 * sum(x) (resp. -8 * sum(x)), which
// is computed once per call instead of a correction per weight block: the same exact
// integer sums, two fewer instructions per block.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels_internal.h"
#include "quant_simd.h"
#include "simd_reduce.h"

namespace rs::engine::kern {

namespace {

constexpr int kR = 4;  // rows x token pairs per tile
constexpr int kP = 4;

// One row's weights as the kernel reads them: int8 values, scales, -128 * sum(w) per lane.
struct RowSrc {
  const int8_t* qs;      // n_blocks * 32 (repacked), or null: read the ggml blocks
  const float* dw;       // n_blocks * 8
  const int32_t* wneg;   // n_blocks * 8
  const uint8_t* raw;    // the ggml row
};

// A repacked row's block b: the int8 weights and -128 * sum(w) per lane (both broadcast to
// the two tokens of a pair), and the scale.
inline void load_block(const RowSrc& row, int64_t b, __m512i* w, __m512i* wn, __m512* dw) {
  *w = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row.qs + b * 32)));
  *wn = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row.wneg + b * 8)));
  *dw = _mm512_set1_ps(row.dw[b * 8]);
}

// One ggml block's 32 weights as uint8 (Q8_0: w + 128; Q4_0: the nibbles, w + 8).
template <GgmlType WT>
inline __m256i block_u8(const uint8_t* blk) {
  if constexpr (WT == GgmlType::kQ8_0) {
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)),
                            _mm256_set1_epi8(static_cast<char>(0x80)));
  } else {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
    const __m128i low = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), low), _mm_and_si128(v, low));
  }
}

// Two rows' blocks as uint8: row a in the lower 256 bits, row b in the upper.
template <GgmlType WT>
inline __m512i block_pair_u8(const uint8_t* ba, const uint8_t* bb) {
  if constexpr (WT == GgmlType::kQ8_0) {
    const __m512i w = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ba + 2))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bb + 2)), 1);
    return _mm512_xor_si512(w, _mm512_set1_epi8(static_cast<char>(0x80)));
  } else {
    // [a | b] 16 bytes each -> [a, a, b, b]; the odd 128-bit lanes take the high nibbles.
    const __m256i ab = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ba + 2))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(bb + 2)), 1);
    const __m512i dup = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), _mm512_castsi256_si512(ab));
    const __m512i sh = _mm512_setr_epi64(0, 0, 0x0004000400040004, 0x0004000400040004, 0, 0,
                                         0x0004000400040004, 0x0004000400040004);
    return _mm512_and_si512(_mm512_srlv_epi16(dup, sh), _mm512_set1_epi8(0x0f));
  }
}

// Two rows' block scales: row a's in lanes 0..7, row b's in 8..15.
inline __m512 scale_pair(const uint8_t* ba, const uint8_t* bb) {
  const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(static_cast<int16_t>(load_u16(ba)))),
                                            _mm_set1_epi16(static_cast<int16_t>(load_u16(bb))), 1);
  return _mm512_cvtph_ps(h);
}

// Writes the sums of the 8-lane halves of acc[0..R-1] (stride apart): lower half to y_lo,
// upper half to y_hi (null: padding token).
template <int R>
inline void store_pair(const __m512* acc, int64_t stride, float* y_lo, float* y_hi) {
  __m256 lo[4];
  __m256 hi[4];
  for (int r = 0; r < 4; ++r) {
    const __m512 v = r < R ? acc[r * stride] : _mm512_setzero_ps();
    lo[r] = _mm512_castps512_ps256(v);
    hi[r] = _mm512_extractf32x8_ps(v, 1);
  }
  float s[4];
  _mm_storeu_ps(s, hsum4_256(lo[0], lo[1], lo[2], lo[3]));
  for (int r = 0; r < R; ++r) y_lo[r] = s[r];
  if (y_hi == nullptr) return;
  _mm_storeu_ps(s, hsum4_256(hi[0], hi[1], hi[2], hi[3]));
  for (int r = 0; r < R; ++r) y_hi[r] = s[r];
}

// The activations as the direct (ggml-block) path reads them, in QuantAct's slot order:
// xs = the int8 values, corr = -128 * (Q4_0: -8 *) the sum of each lane's 4 values.
struct SignedAct {
  const int8_t* xs;     // slot * 64
  const int32_t* corr;  // slot * 16
};

struct TileCtx {
  const RowSrc* rows;  // R rows
  const QuantAct* act;
  SignedAct sx;        // direct path (rows[].qs == null) only
  int64_t pair0;       // first token pair
  int64_t n_tokens;    // tokens of the whole call (for the odd last one)
  float* y;            // y for row o0, token 2 * pair0
  int64_t n_out;
  int64_t pf;          // prefetch offset in the ggml rows (0: none)
};

// RAW: weights from the ggml blocks (as uint8, against c.sx), else the repacked rows.
template <GgmlType WT, int R, int P, bool BM, bool RAW>
void qtile_impl(const TileCtx& c) {
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  const int64_t nb = c.act->n_blocks;
  // Slot steps (see pair_slot): between pairs (1 when block-major: fixed offsets) and
  // between blocks.
  const int64_t ps = BM ? 1 : nb;
  const int64_t bs = BM ? (c.n_tokens + 1) / 2 : 1;
  const int64_t slot0 = pair_slot(*c.act, c.pair0, 0);
  const int8_t* xq = (RAW ? c.sx.xs : c.act->qs) + slot0 * 64;
  const int32_t* xc = RAW ? c.sx.corr + slot0 * 16 : nullptr;
  const float* xd = c.act->d8 + slot0 * 16;
  for (int64_t b = 0; b < nb; ++b, xq += bs * 64, xd += bs * 16, xc += RAW ? bs * 16 : 0) {
    __m512i wv[R];
    __m512i wn[R];
    __m512 dw[R];
    for (int r = 0; r < R; ++r) {
      if constexpr (RAW) {
        const uint8_t* blk = c.rows[r].raw + b * (WT == GgmlType::kQ8_0 ? 34 : 18);
        wv[r] = _mm512_broadcast_i64x4(block_u8<WT>(blk));
        dw[r] = _mm512_set1_ps(_cvtsh_ss(load_u16(blk)));
      } else {
        load_block(c.rows[r], b, &wv[r], &wn[r], &dw[r]);
      }
    }
    if (c.pf != 0 && (b & 1) == 0) {
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(c.rows[r].raw + c.pf + b * (WT == GgmlType::kQ8_0 ? 34 : 18)), _MM_HINT_T1);
    }
    for (int p = 0; p < P; ++p) {
      const __m512i xu = _mm512_loadu_si512(xq + (BM ? p : p * ps) * 64);
      const __m512 dx = _mm512_loadu_ps(xd + (BM ? p : p * ps) * 16);
      __m512i corr = _mm512_setzero_si512();
      if constexpr (RAW) corr = _mm512_loadu_si512(xc + (BM ? p : p * ps) * 16);
      for (int r = 0; r < R; ++r) {
        const __m512i dot = RAW ? _mm512_dpbusd_epi32(corr, wv[r], xu) : _mm512_dpbusd_epi32(wn[r], xu, wv[r]);
        const __m512 f = _mm512_cvtepi32_ps(dot);
        acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], dx), f, acc[r][p]);  // as AVX2
      }
    }
  }
  for (int p = 0; p < P; ++p) {
    const int64_t t = 2 * (c.pair0 + p);
    float* y = c.y + (t - 2 * c.pair0) * c.n_out;
    store_pair<R>(&acc[0][p], P, y, t + 1 < c.n_tokens ? y + c.n_out : nullptr);
  }
}

// BM: block-major activations (pairs_block_major), read at fixed offsets.
template <GgmlType WT, int R, int P>
void qtile(const TileCtx& c) {
  if (c.rows[0].qs == nullptr) {
    qtile_impl<WT, R, P, true, true>(c);  // the direct path: up to 16 tokens, block-major
  } else if (pairs_block_major(c.n_tokens)) {
    qtile_impl<WT, R, P, true, false>(c);
  } else {
    qtile_impl<WT, R, P, false, false>(c);
  }
}

using TileFn = void (*)(const TileCtx&);

template <GgmlType WT, int R>
TileFn tile_for_pairs(int64_t pairs) {
  switch (pairs) {
    case 1: return &qtile<WT, R, 1>;
    case 2: return &qtile<WT, R, 2>;
    case 3: return &qtile<WT, R, 3>;
    default: return &qtile<WT, R, 4>;
  }
}

// Direct path (weights read from the ggml blocks): 2 rows x up to 8 pairs (16 tokens), so
// a decode batch of 16 converts each weight block once.
constexpr int kDirectRows = 4;
constexpr int kDirectPairs = 4;
constexpr int kDirectMaxPairs = 8;

template <GgmlType WT, int R>
TileFn direct_tile(int64_t pairs) {
  switch (pairs) {
    case 1: return &qtile<WT, R, 1>;
    case 2: return &qtile<WT, R, 2>;
    case 3: return &qtile<WT, R, 3>;
    case 4: return &qtile<WT, R, 4>;
    case 5: return &qtile<WT, R, 5>;
    case 6: return &qtile<WT, R, 6>;
    case 7: return &qtile<WT, R, 7>;
    default: return &qtile<WT, R, 8>;
  }
}

template <GgmlType WT>
TileFn direct_tile_rows(int64_t rows, int64_t pairs) {
  switch (rows) {
    case 1: return direct_tile<WT, 1>(pairs);
    case 2: return direct_tile<WT, 2>(pairs);
    case 3: return direct_tile<WT, 3>(pairs);
    default: return direct_tile<WT, kDirectRows>(pairs);
  }
}

template <GgmlType WT>
TileFn tile_fn(int64_t rows, int64_t pairs) {
  static_assert(kR == 4 && kP == 4);
  switch (rows) {
    case 1: return tile_for_pairs<WT, 1>(pairs);
    case 2: return tile_for_pairs<WT, 2>(pairs);
    case 3: return tile_for_pairs<WT, 3>(pairs);
    default: return tile_for_pairs<WT, 4>(pairs);
  }
}

// A single token: two rows share a vector instead (row A in the lower 8 lanes, row B in
// the upper 8, the token's block broadcast to both), with the same per-lane arithmetic as
// qtile, so results stay bit-identical to the token-pair kernel.
constexpr int kRowPairs = 4;  // 8 rows per call
// Weights stream from memory: prefetch two calls' rows ahead into L2 (T1). Prefetching into
// L1 (T0), or only the next call's rows, left the loop waiting on loads at ~15 GB/s
// (one token: 1.5x faster with T1 two calls ahead).
constexpr int64_t kOneTokenPrefetchRows = 4 * kRowPairs;

template <GgmlType WT>
void rows8_one_token(const uint8_t* const* rows, int64_t pf, const QuantAct& act, const SignedAct& sx, float* y) {
  constexpr int64_t kBytes = WT == GgmlType::kQ8_0 ? 34 : 18;
  __m512 acc[kRowPairs];
  for (auto& v : acc) v = _mm512_setzero_ps();
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    const __m512i xs = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sx.xs + b * 64)));
    const __m512i corr = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sx.corr + b * 16)));
    const __m512 dx = _mm512_broadcast_f32x8(_mm256_loadu_ps(act.d8 + b * 16));
    for (int rp = 0; rp < kRowPairs; ++rp) {
      const uint8_t* ba = rows[2 * rp] + b * kBytes;
      const uint8_t* bb = rows[2 * rp + 1] + b * kBytes;
      if ((b & 1) == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(ba + pf), _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(bb + pf), _MM_HINT_T1);
      }
      const __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(corr, block_pair_u8<WT>(ba, bb), xs));
      acc[rp] = _mm512_fmadd_ps(_mm512_mul_ps(scale_pair(ba, bb), dx), f, acc[rp]);
    }
  }
  for (int g = 0; g < 2; ++g) {  // rows 4g .. 4g + 3
    const __m512 p0 = acc[2 * g];
    const __m512 p1 = acc[2 * g + 1];
    _mm_storeu_ps(y + 4 * g, hsum4_256(_mm512_castps512_ps256(p0), _mm512_extractf32x8_ps(p0, 1),
                                       _mm512_castps512_ps256(p1), _mm512_extractf32x8_ps(p1, 1)));
  }
}

// The direct path's signed activations (see SignedAct) for the first n_slots slots.
SignedAct signed_act(GgmlType type, const QuantAct& act, int64_t n_slots) {
  thread_local std::vector<int8_t> xs;
  thread_local std::vector<int32_t> corr;
  xs.resize(static_cast<size_t>(n_slots * 64));
  corr.resize(static_cast<size_t>(n_slots * 16));
  const int shift = type == GgmlType::kQ8_0 ? 7 : 3;  // -128 (resp. -8) * sum(x)
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t k = 0; k < n_slots; ++k) {
    const __m512i x = _mm512_xor_si512(_mm512_loadu_si512(act.qs + k * 64), k80);
    _mm512_storeu_si512(xs.data() + k * 64, x);
    const __m512i sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, x);
    _mm512_storeu_si512(corr.data() + k * 16, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, shift)));
  }
  return SignedAct{xs.data(), corr.data()};
}

// Repacks one ggml row: int8 values, scales (x8) and the -128 * sum(w) lane corrections.
void repack(GgmlType type, const uint8_t* src, int64_t n_blocks, int64_t nbp, int8_t* qs,
            float* dw, int32_t* wneg) {
  repack_row(type, src, n_blocks, nbp, qs, dw);
  const __m256i k128 = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + b * 32));
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), k128, w);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(wneg + b * 8), _mm256_sub_epi32(_mm256_setzero_si256(), s));
  }
}

template <GgmlType WT>
void rows_direct(const MatmulArgs& a, int64_t r0, int64_t r1, int64_t n_pairs) {
  const WeightView& w = a.w;
  const auto* base = static_cast<const uint8_t*>(w.data);
  const SignedAct sx = signed_act(WT, a.act, a.act.n_blocks * n_pairs);  // block-major slots
  if (a.n_tokens == 1) {
    for (; r0 + 2 * kRowPairs <= r1; r0 += 2 * kRowPairs) {
      const uint8_t* rp[2 * kRowPairs];
      for (int r = 0; r < 2 * kRowPairs; ++r) rp[r] = base + (r0 + r) * w.row_bytes;
      rows8_one_token<WT>(rp, kOneTokenPrefetchRows * w.row_bytes, a.act, sx, a.y + r0);
    }
  }
  for (int64_t o = r0; o < r1; o += kDirectRows) {
    const int64_t rows = std::min<int64_t>(kDirectRows, r1 - o);
    RowSrc rs[kDirectRows];
    for (int64_t r = 0; r < rows; ++r) rs[r] = RowSrc{nullptr, nullptr, nullptr, base + (o + r) * w.row_bytes};
    // The first pair group streams the rows from memory (prefetching the next rows); the
    // others find them in L1.
    for (int64_t p = 0; p < n_pairs; p += kDirectPairs) {
      const int64_t pairs = std::min<int64_t>(kDirectPairs, n_pairs - p);
      const TileCtx c{rs, &a.act, sx, p, a.n_tokens, a.y + 2 * p * w.n_out + o, w.n_out,
                      p == 0 ? kDirectRows * w.row_bytes : 0};
      direct_tile_rows<WT>(rows, pairs)(c);
    }
  }
}

template <GgmlType WT>
void rows_typed(const MatmulArgs& a, int64_t r0, int64_t r1) {
  thread_local std::vector<int8_t> qs;
  thread_local std::vector<float> dw;
  thread_local std::vector<int32_t> wneg;
  const WeightView& w = a.w;
  const int64_t nb = a.act.n_blocks;
  const int64_t nbp = a.act.nbp;
  const int64_t n_pairs = (a.n_tokens + 1) / 2;
  // Up to 16 tokens: read the ggml blocks directly; more: repack each row once.
  if (n_pairs <= kDirectMaxPairs) {
    rows_direct<WT>(a, r0, r1, n_pairs);
    return;
  }
  qs.resize(static_cast<size_t>(kR * nbp * 32));
  dw.resize(static_cast<size_t>(kR * nbp * 8));
  wneg.resize(static_cast<size_t>(kR * nbp * 8));
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t o = r0; o < r1; o += kR) {
    const int64_t rows = std::min<int64_t>(kR, r1 - o);
    RowSrc rs[kR];
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* raw = base + (o + r) * w.row_bytes;
      repack(w.type, raw, nb, nbp, qs.data() + r * nbp * 32, dw.data() + r * nbp * 8,
             wneg.data() + r * nbp * 8);
      rs[r] = RowSrc{qs.data() + r * nbp * 32, dw.data() + r * nbp * 8, wneg.data() + r * nbp * 8, raw};
    }
    for (int64_t p = 0; p < n_pairs; p += kP) {
      const int64_t pairs = std::min<int64_t>(kP, n_pairs - p);
      const TileCtx c{rs, &a.act, SignedAct{nullptr, nullptr}, p, a.n_tokens, a.y + 2 * p * w.n_out + o, w.n_out, 0};
      tile_fn<WT>(rows, pairs)(c);
    }
  }
}

}  // namespace

bool rows_q8_packed_avx512(const MatmulArgs& a, int64_t r0, int64_t r1);  // matmul_q8_packed_avx512.cpp

void rows_quant_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (rows_q8_packed_avx512(a, r0, r1)) return;  // Q8_0 with a packed copy
  if (a.w.type == GgmlType::kQ8_0) {
    rows_typed<GgmlType::kQ8_0>(a, r0, r1);
  } else {
    rows_typed<GgmlType::kQ4_0>(a, r0, r1);
  }
}

void prepare_avx512(GgmlType, const float* x, int64_t n_in, int64_t t0, int64_t t1,
                    const QuantAct& act) {
  quantize_act_pairs(x, n_in, t0, t1, act);
}

}  // namespace rs::engine::kern
