// Activation quantization of the block-dot route, rounding as ggml's reference quantizers
// (quantize_row_q8_K_ref; q8_0 / q8_1 with round-to-nearest-even as ggml's x86 code).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "blockdot.h"

namespace rs::engine::kern {

namespace {

// Round to nearest, ties to even, for |v| < 2^22 (as ggml's nearest_int): a float add and
// bit masks the compiler vectorizes, where std::nearbyint may be a libm call.
inline int nearest_int(float v) {
  const float shifted = v + 12582912.0f;  // 1.5 * 2^23
  int32_t i;
  std::memcpy(&i, &shifted, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// ggml's q8_K: iscale = -127 / (signed value of largest magnitude), q = nearest(iscale x)
// capped at 127, d = 1 / iscale; all zero for an all-zero block.
void quantize_q8_k(const float* x, ActBlockK* b) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 256; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  if (amax == 0.0f) {
    std::memset(b, 0, sizeof(*b));
    return;
  }
  const float iscale = -127.0f / max;
  for (int j = 0; j < 256; ++j) {
    const int v = nearest_int(iscale * x[j]);
    b->qs[j] = static_cast<int8_t>(std::min(127, v));
  }
  b->d = 1.0f / iscale;
  b->pad = 0;
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += b->qs[16 * g + l];
    b->bsums[g] = static_cast<int16_t>(sum);
    b->xb[g] = b->d * static_cast<float>(sum);
    for (int c = 0; c < 4; ++c) std::memcpy(b->qt + 64 * c + 4 * g, b->qs + 16 * g + 4 * c, 4);
  }
  for (int j = 0; j < 8; ++j) b->bsum32[j] = static_cast<int16_t>(b->bsums[2 * j] + b->bsums[2 * j + 1]);
}

// q8_0 / q8_1: d = amax / 127 (kept as fp16), q = nearest(x / d), s = fp16(d * sum q).
void quantize_q8_32(const float* x, ActBlock32* b) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    b->qs[j] = static_cast<int8_t>(nearest_int(x[j] * id));
    sum += b->qs[j];
  }
  b->d = fp16_to_fp32(fp32_to_fp16(d));
  b->s = fp16_to_fp32(fp32_to_fp16(d * static_cast<float>(sum)));
  b->sum = sum;
  b->pad = 0;
}

// The pair copy of a token's blocks of 32 (see ActPair32).
void fill_pairs(const ActBlock32* blocks, int64_t n_blocks, ActPair32* pairs) {
  for (int64_t p = 0; p < (n_blocks + 1) / 2; ++p) {
    ActPair32& out = pairs[p];
    std::memset(&out, 0, sizeof(out));
    for (int h = 0; h < 2 && 2 * p + h < n_blocks; ++h) {
      const ActBlock32& b = blocks[2 * p + h];
      std::memcpy(out.qs + 32 * h, b.qs, 32);
      for (int l = 0; l < 8; ++l) out.dx[8 * h + l] = b.d;
      out.sum[8 * h] = static_cast<float>(b.sum);
      out.s[8 * h] = b.s;
    }
  }
}

}  // namespace

void quantize_block_act(GgmlType t, const float* x, int64_t n_in, int64_t t0, int64_t t1,
                        const BlockAct& act) {
  const bool k = is_k_quant(t);
  for (int64_t tok = t0; tok < t1; ++tok) {
    auto* row = const_cast<uint8_t*>(act.data + tok * act.row_bytes);
    const float* xr = x + tok * n_in;
    for (int64_t b = 0; b < act.n_blocks; ++b) {
      if (k) {
        quantize_q8_k(xr + b * 256, reinterpret_cast<ActBlockK*>(row) + b);
      } else {
        quantize_q8_32(xr + b * 32, reinterpret_cast<ActBlock32*>(row) + b);
      }
    }
    if (!k) fill_pairs(reinterpret_cast<const ActBlock32*>(row), act.n_blocks, reinterpret_cast<ActPair32*>(row + act.pair_offset));
  }
}

}  // namespace rs::engine::kern
