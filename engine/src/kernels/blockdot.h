// Internal to rs_engine_kernels: the block-dot route of matmul for Q4_1, Q5_0, Q5_1,
// IQ4_NL and the K-quants. x is quantized once per call the way ggml does for the weight
// type (Q8_K for K-quants, Q8_1 for Q4_1/Q5_1, Q8_0 otherwise; quant_act.cpp, shared by
// all paths), then each path computes exact integer sums per weight block and combines
// them in float block after block, per (row, token): batch invariant by construction.
#pragma once

#include <cstdint>

#include "quant_blocks.h"

namespace rs::engine::kern {

// Activation block of 256 (ggml's block_q8_K values: d, qs, 16-element sums), plus the
// same values group-transposed for the AVX-512 kernels: 64-byte chunk c holds bytes
// 4c..4c+3 of each 16-element group L (qt[64c + 4L + k] = qs[16L + 4c + k]), so that four
// vpdpbusd leave group L's dot in 32-bit lane L; xb[L] = d * bsums[L]; bsum32[j] =
// bsums[2j] + bsums[2j + 1] (the sums of the 32-element sub-blocks, for the packed kernels).
struct alignas(64) ActBlockK {
  int8_t qs[256];
  int8_t qt[256];
  float xb[16];
  int16_t bsums[16];  // 32-byte aligned
  float d;
  int32_t pad;
  int16_t bsum32[8];
};
static_assert(sizeof(ActBlockK) == 640);

// Activation block of 32 (block_q8_0 / block_q8_1 values; s = fp16(d_unrounded * sum)).
struct alignas(16) ActBlock32 {
  int8_t qs[32];
  float d;    // fp16-rounded scale
  float s;    // Q8_1 only
  int32_t sum;
  int32_t pad;
};

// Two consecutive blocks of 32 laid out for 512-bit lanes (AVX-512 legacy kernel): lanes
// 0-7 block 2p, lanes 8-15 block 2p + 1 (zero when n_blocks is odd); dx = the blocks'
// scales per lane, sum / s = the blocks' integer sum and Q8_1 s in lanes 0 and 8 only.
struct alignas(64) ActPair32 {
  int8_t qs[64];
  float dx[16];
  float sum[16];
  float s[16];
};

// One call's quantized x: token t's blocks at data + t * row_bytes (legacy types: the
// ActBlock32 array, then at pair_offset the ActPair32 copy).
struct BlockAct {
  const uint8_t* data = nullptr;
  int64_t row_bytes = 0;
  int64_t n_blocks = 0;  // per token (n_in / 256 or n_in / 32)
  int64_t pair_offset = 0;
};

inline int64_t weight_block_elems(GgmlType t) { return is_k_quant(t) ? 256 : 32; }
// Bytes of one token's activations (a multiple of 64) and where its pair copy starts.
inline int64_t act_pair_offset(int64_t n_blocks) {
  return (n_blocks * static_cast<int64_t>(sizeof(ActBlock32)) + 63) / 64 * 64;
}
inline int64_t act_row_bytes(GgmlType t, int64_t n_blocks) {
  if (is_k_quant(t)) return n_blocks * static_cast<int64_t>(sizeof(ActBlockK));
  return act_pair_offset(n_blocks) + (n_blocks + 1) / 2 * static_cast<int64_t>(sizeof(ActPair32));
}
inline int64_t legacy_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::kQ4_1: return 20;
    case GgmlType::kQ5_0: return 22;
    case GgmlType::kQ5_1: return 24;
    default: return 18;
  }
}

// Quantizes tokens [t0, t1) of x (rows n_in apart) for weight type t into act.
void quantize_block_act(GgmlType t, const float* x, int64_t n_in, int64_t t0, int64_t t1,
                        const BlockAct& act);

// One legacy block unpacked: element j = d * (q[j] - offset) (+ m for Q4_1/Q5_1).
struct LUnpacked {
  uint8_t q[32];
  float d;
  float m;
};
constexpr int legacy_offset(GgmlType t) {
  return t == GgmlType::kQ5_0 ? 16 : (t == GgmlType::kIQ4_NL ? 128 : 0);
}
constexpr bool legacy_has_min(GgmlType t) { return t == GgmlType::kQ4_1 || t == GgmlType::kQ5_1; }
void unpack_legacy(GgmlType t, const uint8_t* blk, LUnpacked* u);

// The float step shared by every path, from a block's exact integer sums.
// K-quants: s = sum_g sc_g * (q - off) . x_g, mins = sum_g mn_g * bsum_g.
inline float combine_k(float acc, float dw, float dmin, float dx, int32_t s, int32_t mins) {
  acc += (dw * dx) * static_cast<float>(s);
  return acc - (dmin * dx) * static_cast<float>(mins);
}
// Legacy: s = sum (q - off) * x; m_w * s_x for the types with a min.
inline float combine_legacy(float acc, float dw, float mw, const ActBlock32& a, int32_t s,
                            bool has_min) {
  acc += (dw * a.d) * static_cast<float>(s);
  return has_min ? acc + mw * a.s : acc;
}

// Scalar path's rows [r0, r1) for the block-dot types (matmul_blockdot.cpp).
void block_rows_scalar(GgmlType type, const uint8_t* w, int64_t row_bytes, const BlockAct& act,
                       int64_t n_tokens, float* y, int64_t n_out, int64_t r0, int64_t r1);

// The SIMD paths' rows (matmul_kq_avx2.cpp, matmul_kq_avx512.cpp).
void block_rows_avx2(const MatmulArgs& a, int64_t r0, int64_t r1);
void block_rows_avx512(const MatmulArgs& a, int64_t r0, int64_t r1);
// Q4_K / Q6_K register kernels (matmul_kq_fast_avx512.cpp); false for other types.
bool block_rows_fast_avx512(const MatmulArgs& a, int64_t r0, int64_t r1);
// The packed kernels (matmul_kq_packed_avx512.cpp) for a.w.packed; r0, r1 multiples of
// kPackRows (or r1 = n_out); false when a.w has no packed copy.
bool block_rows_packed_avx512(const MatmulArgs& a, int64_t r0, int64_t r1);

}  // namespace rs::engine::kern
