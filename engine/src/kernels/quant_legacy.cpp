// Row conversion for the legacy block-of-32 types beyond Q8_0/Q4_0: Q4_1, Q5_0, Q5_1 (as
// ggml's reference quantizers: min/max or signed-max scales) and IQ4_NL (codebook values,
// scale chosen by a small least-squares search), and the portable block unpacker of the
// block-dot route.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "blockdot.h"

namespace rs::engine::kern {

namespace {

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void store_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Unsigned 4/5-bit values of one block (5-bit when qh is given), in element order.
void unpack_nibbles(const uint8_t* qs, const uint8_t* qh, int* q) {
  const uint32_t h = qh != nullptr ? load_u32(qh) : 0u;
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0x0f) | static_cast<int>(((h >> j) & 1u) << 4);
    q[j + 16] = (qs[j] >> 4) | static_cast<int>(((h >> (j + 16)) & 1u) << 4);
  }
}

void pack_nibbles(const int* q, uint8_t* qs, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
    h |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    h |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  if (qh != nullptr) store_u32(qh, h);
}

// Asymmetric block (Q4_1 / Q5_1): x = d * q + m with q in 0..nmax.
void quantize_min_max(const float* x, int nmax, uint8_t* d, uint8_t* m, int* q) {
  float lo = x[0];
  float hi = x[0];
  for (int j = 1; j < 32; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  const float dv = (hi - lo) / static_cast<float>(nmax);
  const float id = dv != 0.0f ? 1.0f / dv : 0.0f;
  store_u16(d, fp32_to_fp16(dv));
  store_u16(m, fp32_to_fp16(lo));
  for (int j = 0; j < 32; ++j) {
    q[j] = std::min(nmax, static_cast<int>((x[j] - lo) * id + 0.5f));
  }
}

int nearest_iq4(float v) {
  int best = 0;
  float err = std::fabs(v - kIq4NlValues[0]);
  for (int k = 1; k < 16; ++k) {
    const float e = std::fabs(v - kIq4NlValues[k]);
    if (e < err) {
      err = e;
      best = k;
    }
  }
  return best;
}

// IQ4_NL: try inverse scales around codebook[0] / max, keep the one whose least-squares
// scale explains most of the block, then assign codes with the stored (fp16) scale.
void quantize_iq4_block(const float* x, BlockIq4Nl* b) {
  const float max = signed_absmax(x, 32);
  int q[32] = {};
  if (max == 0.0f) {
    store_u16(b->d, 0);
    for (int& v : q) v = 8;  // codebook value 1, times 0
    pack_nibbles(q, b->qs, nullptr);
    return;
  }
  float best_d = max / kIq4NlValues[0];
  float best_score = -1.0f;
  for (int k = -7; k <= 7; ++k) {
    const float id = (kIq4NlValues[0] + 0.5f * static_cast<float>(k)) / max;
    float sqx = 0.0f;
    float sqq = 0.0f;
    for (int j = 0; j < 32; ++j) {
      const float c = kIq4NlValues[nearest_iq4(x[j] * id)];
      sqx += c * x[j];
      sqq += c * c;
    }
    if (sqq > 0.0f && sqx * sqx / sqq > best_score) {
      best_score = sqx * sqx / sqq;
      best_d = sqx / sqq;
    }
  }
  store_u16(b->d, fp32_to_fp16(best_d));
  const float d = fp16_to_fp32(load_u16(b->d));
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) q[j] = nearest_iq4(x[j] * id);
  pack_nibbles(q, b->qs, nullptr);
}

void quantize_q5_0_block(const float* x, BlockQ5_0* b) {
  const float d = signed_absmax(x, 32) / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_u16(b->d, fp32_to_fp16(d));
  int q[32];
  for (int j = 0; j < 32; ++j) q[j] = std::min(31, static_cast<int>(x[j] * id + 16.5f));
  pack_nibbles(q, b->qs, b->qh);
}

}  // namespace

void dequantize_legacy(GgmlType type, const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  int q[32];
  for (int64_t i = 0; i < n / kQBlock; ++i) {
    float* out = dst + i * kQBlock;
    if (type == GgmlType::kQ4_1 || type == GgmlType::kQ5_1) {
      const bool five = type == GgmlType::kQ5_1;
      const uint8_t* blk = p + i * (five ? 24 : 20);
      unpack_nibbles(blk + (five ? 8 : 4), five ? blk + 4 : nullptr, q);
      const float d = fp16_to_fp32(load_u16(blk));
      const float m = fp16_to_fp32(load_u16(blk + 2));
      for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(q[j]) * d + m;
    } else if (type == GgmlType::kQ5_0) {
      const auto& b = reinterpret_cast<const BlockQ5_0*>(p)[i];
      unpack_nibbles(b.qs, b.qh, q);
      const float d = fp16_to_fp32(load_u16(b.d));
      for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(q[j] - 16) * d;
    } else {
      const auto& b = reinterpret_cast<const BlockIq4Nl*>(p)[i];
      unpack_nibbles(b.qs, nullptr, q);
      const float d = fp16_to_fp32(load_u16(b.d));
      for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(kIq4NlValues[q[j]]) * d;
    }
  }
}

void quantize_legacy(GgmlType type, const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  int q[32];
  for (int64_t i = 0; i < n / kQBlock; ++i) {
    const float* x = src + i * kQBlock;
    if (type == GgmlType::kQ4_1) {
      auto& b = reinterpret_cast<BlockQ4_1*>(p)[i];
      quantize_min_max(x, 15, b.d, b.m, q);
      pack_nibbles(q, b.qs, nullptr);
    } else if (type == GgmlType::kQ5_1) {
      auto& b = reinterpret_cast<BlockQ5_1*>(p)[i];
      quantize_min_max(x, 31, b.d, b.m, q);
      pack_nibbles(q, b.qs, b.qh);
    } else if (type == GgmlType::kQ5_0) {
      quantize_q5_0_block(x, &reinterpret_cast<BlockQ5_0*>(p)[i]);
    } else {
      quantize_iq4_block(x, &reinterpret_cast<BlockIq4Nl*>(p)[i]);
    }
  }
}

void unpack_legacy(GgmlType t, const uint8_t* blk, LUnpacked* u) {
  const bool has_min = legacy_has_min(t);
  const bool five = t == GgmlType::kQ5_0 || t == GgmlType::kQ5_1;
  const uint8_t* qs = blk + 2 + (has_min ? 2 : 0) + (five ? 4 : 0);
  int q[32];
  unpack_nibbles(qs, five ? qs - 4 : nullptr, q);
  for (int j = 0; j < 32; ++j) {
    u->q[j] = static_cast<uint8_t>(t == GgmlType::kIQ4_NL ? kIq4NlValues[q[j]] + 128 : q[j]);
  }
  u->d = fp16_to_fp32(load_u16(blk));
  u->m = has_min ? fp16_to_fp32(load_u16(blk + 2)) : 0.0f;
}

}  // namespace rs::engine::kern
