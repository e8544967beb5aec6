// Row conversion: fp16/bf16 <-> fp32, ggml Q8_0/Q4_0 quantization (the other block types
// in quant_legacy.cpp / quant_kquants.cpp), and the portable activation quantizer used by
// the Q8_0/Q4_0 matmul paths.
#include <algorithm>
#include <cmath>

#include "quant_blocks.h"

namespace rs::engine {

using kern::bits_from_f32;
using kern::BlockQ4_0;
using kern::BlockQ8_0;
using kern::f32_from_bits;
using kern::kQBlock;
using kern::load_u16;

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    if (mant == 0) return f32_from_bits(sign);
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // 2^-24, exact
    return f32_from_bits(sign | bits_from_f32(v));
  }
  if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
  return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
  uint32_t u = bits_from_f32(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  if (u >= 0x7f800000u) {  // Inf or NaN (NaN stays a quiet NaN)
    return static_cast<uint16_t>(sign | 0x7c00u | (u > 0x7f800000u ? 0x200u | ((u >> 13) & 0x3ffu) : 0u));
  }
  if (u >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to Inf
  if (u < 0x38800000u) {  // fp16 subnormal or zero: let the FPU round (to nearest even)
    const float magic = f32_from_bits(126u << 23);  // 0.5
    const float v = f32_from_bits(u) + magic;
    return static_cast<uint16_t>(sign | (bits_from_f32(v) - (126u << 23)));
  }
  const uint32_t odd = (u >> 13) & 1u;
  u += 0xc8000fffu + odd;  // rebias exponent (-112 << 23) and round to nearest even
  return static_cast<uint16_t>(sign | (u >> 13));
}

float bf16_to_fp32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  const uint32_t u = bits_from_f32(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64u);  // quiet NaN
  return static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

namespace {

void dequantize_q8_0(const BlockQ8_0* b, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQBlock; ++i) {
    const float d = fp16_to_fp32(load_u16(b[i].d));
    for (int j = 0; j < 32; ++j) dst[i * kQBlock + j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

void dequantize_q4_0(const BlockQ4_0* b, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQBlock; ++i) {
    const float d = fp16_to_fp32(load_u16(b[i].d));
    float* out = dst + i * kQBlock;
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<float>((b[i].qs[j] & 0x0f) - 8) * d;
      out[j + 16] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void quantize_q8_0(const float* src, BlockQ8_0* b, int64_t n) {
  for (int64_t i = 0; i < n / kQBlock; ++i) {
    const float* x = src + i * kQBlock;
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    kern::store_u16(b[i].d, fp32_to_fp16(d));
    for (int j = 0; j < 32; ++j) b[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

void quantize_q4_0(const float* src, BlockQ4_0* b, int64_t n) {
  for (int64_t i = 0; i < n / kQBlock; ++i) {
    const float* x = src + i * kQBlock;
    const float d = kern::signed_absmax(x, 32) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    kern::store_u16(b[i].d, fp32_to_fp16(d));
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      const int hi = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
      b[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

}  // namespace

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16: {
      const auto* h = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(kern::load_u16(h + 2 * i));
      return;
    }
    case GgmlType::kBF16: {
      const auto* h = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(kern::load_u16(h + 2 * i));
      return;
    }
    case GgmlType::kQ8_0:
      dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, n);
      return;
    case GgmlType::kQ4_0:
      dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, n);
      return;
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kIQ4_NL:
      kern::dequantize_legacy(type, src, dst, n);
      return;
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      kern::dequantize_kquant(type, src, dst, n);
      return;
  }
}

void quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16: {
      auto* h = static_cast<uint8_t*>(dst);
      for (int64_t i = 0; i < n; ++i) kern::store_u16(h + 2 * i, fp32_to_fp16(src[i]));
      return;
    }
    case GgmlType::kBF16: {
      auto* h = static_cast<uint8_t*>(dst);
      for (int64_t i = 0; i < n; ++i) kern::store_u16(h + 2 * i, fp32_to_bf16(src[i]));
      return;
    }
    case GgmlType::kQ8_0:
      quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), n);
      return;
    case GgmlType::kQ4_0:
      quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), n);
      return;
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kIQ4_NL:
      kern::quantize_legacy(type, src, dst, n);
      return;
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      kern::quantize_kquant(type, src, dst, n);
      return;
  }
}

namespace kern {

namespace {
size_t align64(size_t n) { return (n + 63) & ~static_cast<size_t>(63); }
}  // namespace

size_t quant_act_bytes(int64_t n_in, int64_t n_tokens) {
  const auto nbp = static_cast<size_t>((n_in / kQBlock + 1) & ~int64_t{1});
  const auto nt = static_cast<size_t>(n_tokens + 1);  // room for a pair layout's partner
  return align64(nt * nbp * 32) + align64(nt * nbp * 8 * 4) + 64;
}

QuantAct quant_act_layout(void* scratch, int64_t n_in, int64_t n_tokens) {
  QuantAct a;
  a.n_blocks = n_in / kQBlock;
  a.nbp = (a.n_blocks + 1) & ~int64_t{1};
  auto base = reinterpret_cast<uintptr_t>(scratch);
  base = (base + 63) & ~static_cast<uintptr_t>(63);
  auto* p = reinterpret_cast<uint8_t*>(base);
  a.qs = reinterpret_cast<int8_t*>(p);
  a.n_tokens = n_tokens;
  a.d8 = reinterpret_cast<float*>(p + align64(static_cast<size_t>((n_tokens + 1) * a.nbp * 32)));
  return a;
}

void quantize_act_scalar(const float* x, int64_t n_in, int64_t t_begin, int64_t t_end,
                         const QuantAct& act) {
  for (int64_t t = t_begin; t < t_end; ++t) {
    for (int64_t b = 0; b < act.nbp; ++b) {
      int8_t* q = act.qs + (t * act.nbp + b) * kQBlock;
      float* d8 = act.d8 + (t * act.nbp + b) * 8;
      if (b >= act.n_blocks) {  // padding block
        std::memset(q, 0, kQBlock);
        for (int j = 0; j < 8; ++j) d8[j] = 0.0f;
        continue;
      }
      const float* xb = x + t * n_in + b * kQBlock;
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      for (int j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(std::nearbyint(xb[j] * id));
      const float dh = fp16_to_fp32(fp32_to_fp16(d));  // stored as fp16, as ggml does
      for (int j = 0; j < 8; ++j) d8[j] = dh;
    }
  }
}

}  // namespace kern
}  // namespace rs::engine
