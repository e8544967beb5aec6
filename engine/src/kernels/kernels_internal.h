// Internal to rs_engine_kernels: ggml block layouts, the per-path matmul entry points and
// the activation scratch shared by the quantized paths. Not a public header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "rs/engine/kernels.h"

namespace rs::engine::kern {

constexpr int64_t kQBlock = 32;  // elements per Q8_0 / Q4_0 block

// Byte members only (alignment 1): ggml rows of 34/18-byte blocks need not be aligned.
struct BlockQ8_0 {
  uint8_t d[2];    // fp16 scale, little-endian
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_0 {
  uint8_t d[2];    // fp16 scale
  uint8_t qs[16];  // element j in the low nibble of byte j, element j+16 in the high nibble
};
static_assert(sizeof(BlockQ4_0) == 18);

// Activations quantized to 8-bit blocks of 32 (one call's x). Token-major layout (scalar
// and AVX2 paths), block count padded to even (nbp; the padding block is zero, scale 0):
//   qs[(t * nbp + b) * 32 + j]  int8
//   d8[(t * nbp + b) * 8]       the block's scale (fp16-rounded), repeated 8 times
// Token-pair layout (AVX-512 path; an odd last token gets a zero partner), slot
// k = pair_slot(act, t / 2, b) (see there):
//   qs[k * 64 + (t % 2) * 32 + j]  uint8 = int8 + 128
//   d8[k * 16 + (t % 2) * 8]       scale, repeated 8 times
struct QuantAct {
  int8_t* qs = nullptr;
  float* d8 = nullptr;
  int64_t n_blocks = 0;  // real blocks per token (n_in / 32)
  int64_t nbp = 0;       // padded blocks per token (even)
  int64_t n_tokens = 0;
};

// Token-pair slots: block-major (the pairs of one block contiguous) for up to
// kBlockMajorPairs pairs (decode batches: the tile reads its pairs at fixed offsets),
// else pair-major (each pair's blocks contiguous: no large strides in long prefills).
constexpr int64_t kBlockMajorPairs = 8;
inline bool pairs_block_major(int64_t n_tokens) { return (n_tokens + 1) / 2 <= kBlockMajorPairs; }
inline int64_t pair_slot(const QuantAct& act, int64_t pair, int64_t b) {
  return pairs_block_major(act.n_tokens) ? b * ((act.n_tokens + 1) / 2) + pair : pair * act.n_blocks + b;
}

// Bytes of scratch for QuantAct of n_tokens rows of n_in (64-byte aligned sub-arrays).
size_t quant_act_bytes(int64_t n_in, int64_t n_tokens);
QuantAct quant_act_layout(void* scratch, int64_t n_in, int64_t n_tokens);
// Portable activation quantizer, as ggml's quantize_row_q8_0: d = amax/127,
// q = nearbyint(x * (1/d)) (ties to even), and the scale kept is d rounded to fp16.
void quantize_act_scalar(const float* x, int64_t n_in, int64_t t_begin, int64_t t_end,
                         const QuantAct& act);

// The block-dot route's quantized activations (blockdot.h).
struct BlockAct;

struct MatmulArgs {
  WeightView w;
  const float* x = nullptr;  // n_tokens rows of n_in, x_stride apart
  int64_t x_stride = 0;
  QuantAct act;              // for Q8_0 / Q4_0 weights
  const BlockAct* bact = nullptr;  // for the block-dot types (is_block_dot)
  int64_t n_tokens = 0;
  float* y = nullptr;        // n_tokens x n_out
};

// One path's matmul over output rows [r0, r1), all tokens.
using MatmulRowsFn = void (*)(const MatmulArgs& a, int64_t r0, int64_t r1);
// One path's activation preparation (quantized weight types only), tokens [t0, t1).
using PrepareActFn = void (*)(GgmlType type, const float* x, int64_t n_in, int64_t t0,
                              int64_t t1, const QuantAct& act);

struct MatmulPath {
  MatmulRowsFn rows;
  PrepareActFn prepare;
  int64_t row_align;  // preferred multiple of rows per thread chunk
  MatmulRowsFn block_rows;  // the block-dot types (a.bact set)
};

MatmulPath matmul_path_scalar();
MatmulPath matmul_path_avx2();
MatmulPath matmul_path_avx512();

// Element-wise SIMD variants (ops_avx2.cpp).
float dot_f32_avx2(const float* a, const float* b, int64_t n);
void axpy_f32_avx2(float a, const float* x, float* y, int64_t n);
void rms_norm_avx2(const float* x, const float* weight, float* out, int64_t n, float eps);
void softmax_avx2(float* x, int64_t n);
int64_t argmax_avx2(const float* x, int64_t n);
void log_sum_exp_avx2(const float* x, int64_t n, float* max_out, double* log_sum_out);
void silu_mul_avx2(float* gate, const float* up, int64_t n);
void add_avx2(float* y, const float* x, int64_t n);

inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void store_u16(void* p, uint16_t v) { std::memcpy(p, &v, 2); }

inline bool is_quant(GgmlType t) { return t == GgmlType::kQ8_0 || t == GgmlType::kQ4_0; }

inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t bits_from_f32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace rs::engine::kern
