// Internal to rs_engine_kernels: the ggml block layouts of the weight types beyond
// Q8_0/Q4_0 (legacy blocks of 32: Q4_1, Q5_0, Q5_1, IQ4_NL; K-quant super-blocks of 256:
// Q2_K..Q6_K), their row converters (quant_legacy.cpp, quant_kquants.cpp) and the
// scale decoding the dot-product kernels share. Stateless; any thread.
#pragma once

#include <cstdint>

#include "kernels_internal.h"

namespace rs::engine::kern {

constexpr int64_t kSuperBlock = 256;  // elements per K-quant super-block

// Byte members only (alignment 1), fp16 fields as 2 little-endian bytes, as ggml-common.h.
struct BlockQ4_1 {
  uint8_t d[2];    // fp16 scale
  uint8_t m[2];    // fp16 minimum: x = d * q + m, q in 0..15
  uint8_t qs[16];  // element j low nibble of byte j, element j + 16 high nibble
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ5_0 {
  uint8_t d[2];
  uint8_t qh[4];   // bit j (little-endian u32) = fifth bit of element j; x = d * (q - 16)
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
  uint8_t d[2];
  uint8_t m[2];    // x = d * q + m, q in 0..31
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24);

struct BlockIq4Nl {
  uint8_t d[2];
  uint8_t qs[16];  // nibbles index kIq4NlValues: x = d * kIq4NlValues[nibble]
};
static_assert(sizeof(BlockIq4Nl) == 18);

// The IQ4_NL codebook (ggml's kvalues_iq4nl).
inline constexpr int8_t kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// x = d * sc * q - dmin * m per 16 elements; 4-bit sc (low) and m (high) per byte.
struct BlockQ2K {
  uint8_t scales[16];
  uint8_t qs[64];  // 2-bit values: element 128*h + 32*s + l at bits 2*s of qs[32*h + l]
  uint8_t d[2];
  uint8_t dmin[2];
};
static_assert(sizeof(BlockQ2K) == 84);

// x = d * (sc - 32) * (q - (high bit ? 0 : 4)); sixteen 6-bit scales in 12 bytes.
struct BlockQ3K {
  uint8_t hmask[32];  // high bit of element 32*j + l at bit j of hmask[l]
  uint8_t qs[64];     // low 2 bits, as Q2_K
  uint8_t scales[12];
  uint8_t d[2];
};
static_assert(sizeof(BlockQ3K) == 110);

// x = d * sc * q - dmin * m per 32 elements; eight 6-bit (sc, m) pairs in 12 bytes.
struct BlockQ4K {
  uint8_t d[2];
  uint8_t dmin[2];
  uint8_t scales[12];
  uint8_t qs[128];  // element 64*j + l low nibble of qs[32*j + l], 64*j + 32 + l high nibble
};
static_assert(sizeof(BlockQ4K) == 144);

struct BlockQ5K {
  uint8_t d[2];
  uint8_t dmin[2];
  uint8_t scales[12];
  uint8_t qh[32];   // fifth bit of element 32*j + l at bit j of qh[l]
  uint8_t qs[128];  // low 4 bits, as Q4_K
};
static_assert(sizeof(BlockQ5K) == 176);

// x = d * sc * (q - 32) per 16 elements, int8 sc.
struct BlockQ6K {
  uint8_t ql[128];  // low 4 bits (see dequantize_q6_k)
  uint8_t qh[64];   // high 2 bits
  int8_t scales[16];
  uint8_t d[2];
};
static_assert(sizeof(BlockQ6K) == 210);

// Q4_K/Q5_K: the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes.
inline void scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q3_K: the sixteen signed scales (sc - 32) from the 12 packed bytes.
inline void scales_q3_k(const uint8_t* p, int8_t* out) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (p[j] & 0x0f) : (p[j - 8] >> 4);
    const int high = (p[8 + (j & 3)] >> (2 * (j / 4))) & 3;
    out[j] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

// The value of largest magnitude among x[0..n) (its sign kept; the first of equals), as
// ggml's reference quantizers pick a block's scale from.
inline float signed_absmax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; ++j) {
    const float a = x[j] < 0.0f ? -x[j] : x[j];
    if (a > amax) {
      amax = a;
      max = x[j];
    }
  }
  return max;
}

inline bool is_legacy_quant(GgmlType t) {
  return t == GgmlType::kQ4_1 || t == GgmlType::kQ5_0 || t == GgmlType::kQ5_1 ||
         t == GgmlType::kIQ4_NL;
}
inline bool is_k_quant(GgmlType t) {
  return t == GgmlType::kQ2_K || t == GgmlType::kQ3_K || t == GgmlType::kQ4_K ||
         t == GgmlType::kQ5_K || t == GgmlType::kQ6_K;
}
// Types computed through the block-dot route (matmul_blockdot.cpp).
inline bool is_block_dot(GgmlType t) { return is_legacy_quant(t) || is_k_quant(t); }

// Row converters of the new types (n a multiple of the block size).
void dequantize_legacy(GgmlType type, const void* src, float* dst, int64_t n);
void quantize_legacy(GgmlType type, const float* src, void* dst, int64_t n);
void dequantize_kquant(GgmlType type, const void* src, float* dst, int64_t n);
void quantize_kquant(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace rs::engine::kern
