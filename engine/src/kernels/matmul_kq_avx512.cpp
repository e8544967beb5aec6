// AVX-512 VNNI block-dot rows (see blockdot.h) for the legacy blocks of 32 (Q4_1, Q5_0,
// Q5_1, IQ4_NL): unsigned weight bytes against signed activations with vpdpbusd, the
// weight offset removed with the activation block sum; each block unpacked once for up to
// kLegacyTile tokens; float accumulation lane-wise (no per-block horizontal sum). The
// K-quants go to matmul_kq_fast_avx512.cpp.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>

#include "kq_unpack_simd.h"
#include "simd_reduce.h"

namespace rs::engine::kern {

namespace {

constexpr int64_t kLegacyTile = 4;
constexpr int64_t kTokenChunk = 128;  // multiple of kLegacyTile

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// Per token: two 8-lane float accumulators (even and odd blocks: two short dependency
// chains), lane-wise d_w * d_x * (w . x) with the offset term folded into lane 0 as an
// integer, and the Q4_1/Q5_1 min term m_w * s_x in a scalar.
struct LegacyAcc {
  __m256 even, odd;
  float mins;
};

template <int T>
void legacy_tile(GgmlType type, const uint8_t* row, const BlockAct& act, int64_t t0, float* out) {
  const int off = legacy_offset(type);
  const bool has_min = legacy_has_min(type);
  const int64_t bytes = legacy_block_bytes(type);
  LegacyAcc acc[T];
#pragma GCC unroll 4
  for (int t = 0; t < T; ++t) acc[t] = {_mm256_setzero_ps(), _mm256_setzero_ps(), 0.0f};
  for (int64_t b = 0; b < act.n_blocks; ++b) {
    float d, m;
    const __m256i w = unpack_legacy_simd(type, row + b * bytes, &d, &m);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const auto& x = reinterpret_cast<const ActBlock32*>(act.data + (t0 + t) * act.row_bytes)[b];
      __m256i dp = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, load256(x.qs));
      dp = _mm256_sub_epi32(dp, _mm256_castsi128_si256(_mm_cvtsi32_si128(off * x.sum)));
      // Explicit fma (never left to contraction, which could differ between tile sizes).
      __m256& lane_acc = b % 2 == 0 ? acc[t].even : acc[t].odd;
      lane_acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dp), _mm256_set1_ps(d * x.d), lane_acc);
      if (has_min) acc[t].mins = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(m), _mm_set_ss(x.s), _mm_set_ss(acc[t].mins)));
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < T; ++t) {
    const __m256 v = _mm256_add_ps(acc[t].even, acc[t].odd);
    out[t] = hsum4_256(v, v, v, v)[0] + acc[t].mins;
  }
}

void legacy_rows(const MatmulArgs& a, int64_t r0, int64_t r1) {
  const BlockAct& act = *a.bact;
  const auto* base = static_cast<const uint8_t*>(a.w.data);
  float out[kLegacyTile];
  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += kTokenChunk) {  // activations stay in L2
    const int64_t c1 = std::min(a.n_tokens, c0 + kTokenChunk);
    for (int64_t o = r0; o < r1; ++o) {
      const uint8_t* row = base + o * a.w.row_bytes;
      for (int64_t t0 = c0; t0 < c1; t0 += kLegacyTile) {
        const int64_t nt = std::min(kLegacyTile, c1 - t0);
        switch (nt) {
          case 4: legacy_tile<4>(a.w.type, row, act, t0, out); break;
          case 3: legacy_tile<3>(a.w.type, row, act, t0, out); break;
          case 2: legacy_tile<2>(a.w.type, row, act, t0, out); break;
          default: legacy_tile<1>(a.w.type, row, act, t0, out); break;
        }
        for (int64_t t = 0; t < nt; ++t) a.y[(t0 + t) * a.w.n_out + o] = out[t];
      }
    }
  }
}

}  // namespace

void block_rows_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (block_rows_fast_avx512(a, r0, r1)) return;  // the K-quants
  legacy_rows(a, r0, r1);
}

}  // namespace rs::engine::kern
