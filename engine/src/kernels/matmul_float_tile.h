// Register-tiled matmul for F32/F16/BF16 weights, templated on a vector-traits struct `Tr`
// (AVX2 or AVX-512). Included by one *_avx2.cpp / *_avx512.cpp file each: everything here
// has internal linkage so each copy keeps its own instruction set.
//
// Batch invariance: every (row, token) pair owns one accumulator vector that sees the same
// sequence of FMAs (k ascending, one vector width at a time), then the same horizontal
// sum and the same scalar tail, whatever tile, chunk or thread the pair lands in.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <immintrin.h>

#include "kernels_internal.h"

namespace rs::engine::kern {
namespace {

template <class Tr>
struct FloatMatmul {
  using V = typename Tr::V;
  static constexpr int kW = Tr::kW;
  static constexpr int kR = Tr::kRows;     // rows per tile
  static constexpr int kT = Tr::kTokens;   // tokens per tile
  static constexpr int64_t kChunk = Tr::kTokenChunk;
  static constexpr int64_t kPanelFloats = 48 * 1024;  // converted rows kept in L2 (192 KB)
  static constexpr int64_t kMaxSuper = 64;
  static constexpr int64_t kKBlock = 512;  // multiple of kW
  static constexpr int64_t kDirectMaxTokens = 64;  // beyond: convert rows once, block K
  static_assert(kMaxSuper % kR == 0);
  static_assert(kR <= 4);  // one hsum4 per token

  template <GgmlType WT>
  static float scalar_w(const uint8_t* row, int64_t i) {
    if constexpr (WT == GgmlType::kF32) {
      float v;
      std::memcpy(&v, row + i * 4, 4);
      return v;
    } else {
      uint16_t h;
      std::memcpy(&h, row + i * 2, 2);
      return WT == GgmlType::kF16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
    }
  }

  // One call of an R x T tile over k in [k0, k1). `acc` (when not null) holds the pairs'
  // partial accumulators between K blocks: pair (r, t) at acc[r * acc_stride + t].
  struct TileArgs {
    const uint8_t* const* w;  // R row pointers, type WT
    const float* x;           // T token rows, x_stride apart
    int64_t x_stride;
    int64_t n_in, k0, k1;     // k1 == n_in: last block (horizontal sum + tail, writes y)
    V* acc;
    int64_t acc_stride;
    float* y;                 // y[t * n_out + r]
    int64_t n_out;
    int64_t pf;               // prefetch offset for weights streaming from memory (0: none)
  };

  template <GgmlType WT, int R, int T>
  static void tile(const TileArgs& a) {
    constexpr int64_t kElem = WT == GgmlType::kF32 ? 4 : 2;
    V acc[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = a.k0 == 0 ? Tr::zero() : a.acc[r * a.acc_stride + t];
    const bool last = a.k1 == a.n_in;
    const int64_t kend = last ? a.n_in / kW * kW : a.k1;
    const float* x = a.x;
    for (int64_t i = a.k0; i < kend; i += kW) {
      V wv[R];
      for (int r = 0; r < R; ++r) wv[r] = Tr::template load<WT>(a.w[r], i);
      if (a.pf != 0 && (i * kElem) % 64 == 0) {  // weights streaming from memory: prefetch the next rows into L2 (T1: 1.6x at one token vs T0), once a line
        for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(a.w[r] + a.pf + i * kElem), _MM_HINT_T1);
      }
      for (int t = 0; t < T; ++t) {
        const V xv = Tr::load_f32(x + t * a.x_stride + i);
        for (int r = 0; r < R; ++r) acc[r][t] = Tr::fma(wv[r], xv, acc[r][t]);
      }
    }
    if (!last) {
      for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) a.acc[r * a.acc_stride + t] = acc[r][t];
      return;
    }
    for (int t = 0; t < T; ++t) {
      V v[4];
      for (int r = 0; r < 4; ++r) v[r] = r < R ? acc[r][t] : Tr::zero();
      float s[4];
      _mm_storeu_ps(s, Tr::hsum4(v[0], v[1], v[2], v[3]));
      for (int r = 0; r < R; ++r) {
        for (int64_t j = kend; j < a.n_in; ++j) s[r] = std::fma(scalar_w<WT>(a.w[r], j), x[t * a.x_stride + j], s[r]);
        a.y[t * a.n_out + r] = s[r];
      }
    }
  }

  using TileFn = void (*)(const TileArgs&);

  // table[r][t] = tile<WT, r, t> for 1 <= r <= kR, 1 <= t <= kT.
  template <GgmlType WT>
  struct Table {
    TileFn fn[kR + 1][kT + 1] = {};
    template <int R, int T>
    constexpr void fill() {
      if constexpr (R >= 1 && T >= 1) {
        fn[R][T] = &tile<WT, R, T>;
        if constexpr (T > 1) {
          fill<R, T - 1>();
        } else {
          fill<R - 1, kT>();
        }
      }
    }
    constexpr Table() { fill<kR, kT>(); }
  };

  static float* aligned(std::vector<float>& buf, int64_t n) {
    if (buf.size() < static_cast<size_t>(n + 16)) buf.resize(static_cast<size_t>(n + 16));
    const auto p = reinterpret_cast<uintptr_t>(buf.data());
    return reinterpret_cast<float*>((p + 63) & ~static_cast<uintptr_t>(63));
  }

  template <GgmlType WT>
  static TileFn tile_fn(int64_t rows, int64_t tokens) {
    static constexpr Table<WT> table;
    return table.fn[rows][tokens];
  }

  // Few tokens: weight rows stream from memory once, converted on the fly.
  template <GgmlType WT>
  static void rows_direct(const MatmulArgs& a, int64_t r0, int64_t r1, int64_t t0,
                          int64_t n_tok) {
    const WeightView& w = a.w;
    const auto* base = static_cast<const uint8_t*>(w.data);
    for (int64_t o = r0; o < r1; o += kR) {
      const int64_t rows = std::min<int64_t>(kR, r1 - o);
      const uint8_t* wp[kR];
      for (int64_t r = 0; r < rows; ++r) wp[r] = base + (o + r) * w.row_bytes;
      for (int64_t t = 0; t < n_tok; t += kT) {
        const int64_t tt = std::min<int64_t>(kT, n_tok - t);
        const TileArgs ta{wp, a.x + (t0 + t) * a.x_stride, a.x_stride, w.n_in, 0, w.n_in, nullptr, 0,
                          a.y + (t0 + t) * w.n_out + o, w.n_out, kR * w.row_bytes};
        tile_fn<WT>(rows, tt)(ta);
      }
    }
  }

  // Many tokens: a super-block of rows is converted to F32 once (exact) and kept in L2;
  // K is cut in blocks of kKBlock so a token tile and a row block both stay in L1 (the
  // accumulators wait in `accs` between K blocks, so each pair's sum is unchanged).
  template <GgmlType WT>
  static void rows_blocked(const MatmulArgs& a, int64_t r0, int64_t r1) {
    thread_local std::vector<float> panel_buf;
    thread_local std::vector<float> acc_buf;
    const WeightView& w = a.w;
    const int64_t n_in = w.n_in;
    const auto* base = static_cast<const uint8_t*>(w.data);
    const int64_t super = std::clamp<int64_t>((kPanelFloats / n_in) / kR * kR, kR, kMaxSuper);
    const int64_t stride = (n_in + 15) / 16 * 16;  // 64-byte aligned panel rows
    float* panel = aligned(panel_buf, super * stride);
    V* accs = reinterpret_cast<V*>(aligned(acc_buf, super * kChunk * kW));
    for (int64_t os = r0; os < r1; os += super) {
      const int64_t n_rows = std::min(super, r1 - os);
      const uint8_t* rp[kMaxSuper];
      for (int64_t r = 0; r < n_rows; ++r) {
        Tr::template convert_row<WT>(base + (os + r) * w.row_bytes, panel + r * stride, n_in);
        rp[r] = reinterpret_cast<const uint8_t*>(panel + r * stride);
      }
      for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kChunk) {
        const int64_t n_tok = std::min(kChunk, a.n_tokens - t0);
        for (int64_t k0 = 0; k0 < n_in; k0 += kKBlock) {
          const int64_t k1 = n_in - k0 <= kKBlock + kW ? n_in : k0 + kKBlock;
          for (int64_t t = 0; t < n_tok; t += kT) {
            const int64_t tt = std::min<int64_t>(kT, n_tok - t);
            for (int64_t o = 0; o < n_rows; o += kR) {
              const TileArgs ta{rp + o, a.x + (t0 + t) * a.x_stride, a.x_stride, n_in, k0, k1,
                                accs + o * kChunk + t, kChunk,
                                a.y + (t0 + t) * w.n_out + os + o, w.n_out, 0};
              tile_fn<GgmlType::kF32>(std::min<int64_t>(kR, n_rows - o), tt)(ta);
            }
          }
          if (k1 == n_in) break;
        }
      }
    }
  }

  template <GgmlType WT>
  static void rows_typed(const MatmulArgs& a, int64_t r0, int64_t r1) {
    if (a.n_tokens > kDirectMaxTokens) {
      rows_blocked<WT>(a, r0, r1);
    } else {
      rows_direct<WT>(a, r0, r1, 0, a.n_tokens);
    }
  }

  static void rows(const MatmulArgs& a, int64_t r0, int64_t r1) {
    switch (a.w.type) {
      case GgmlType::kF32: rows_typed<GgmlType::kF32>(a, r0, r1); return;
      case GgmlType::kF16: rows_typed<GgmlType::kF16>(a, r0, r1); return;
      case GgmlType::kBF16: rows_typed<GgmlType::kBF16>(a, r0, r1); return;
      default: return;
    }
  }
};

}  // namespace
}  // namespace rs::engine::kern
