// AVX-512 VNNI block-dot rows (see blockdot.h) for the legacy blocks of 32 (Q4_1, Q5_0,
// Q5_1, IQ4_NL): unsigned weight bytes against signed activations with vpdpbusd, the
// weight offset removed with the activation block sum; each block unpacked once for up to
// kTileTokens tokens. Integer sums equal the scalar path's exactly. The K-quants go to
// matmul_kq_fast_avx512.cpp.
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
  if (block_rows_fast_avx512(a, r0, r1)) return;  // the K-quants
  const BlockAct& act = *a.bact;
  const auto* base = static_cast<const uint8_t*>(a.w.data);
  for (int64_t o = r0; o < r1; ++o) {
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kTileTokens) {
      const int64_t nt = std::min(kTileTokens, a.n_tokens - t0);
      float acc[kTileTokens] = {};
      legacy_tile(a.w.type, base + o * a.w.row_bytes, act, t0, nt, acc);
      for (int64_t t = 0; t < nt; ++t) a.y[(t0 + t) * a.w.n_out + o] = acc[t];
    }
  }
}

}  // namespace rs::engine::kern
