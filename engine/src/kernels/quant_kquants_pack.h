// Internal to rs_engine_kernels: element <-> bit position packing of the K-quant blocks
// (Q2_K..Q6_K) in ggml's layout, between a block and its unpacked form (raw unsigned
// values, per-16 scales and mins, super-block scales). Stateless; any thread.
#pragma once

#include <cstring>

#include "quant_blocks.h"

namespace rs::engine::kern {

// One super-block unpacked: element e = d * sc[e / 16] * (q[e] - offset) - dmin * mn[e / 16].
struct alignas(64) KUnpacked {
  uint8_t q[256];
  int8_t sc[16];
  uint8_t mn[16];
  float d;
  float dmin;
};

constexpr int kq_offset(GgmlType t) {
  return t == GgmlType::kQ3_K ? 4 : (t == GgmlType::kQ6_K ? 32 : 0);
}
constexpr int kq_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::kQ2_K: return 84;
    case GgmlType::kQ3_K: return 110;
    case GgmlType::kQ4_K: return 144;
    case GgmlType::kQ5_K: return 176;
    default: return 210;
  }
}

// Q2_K/Q3_K low bits: element 128h + 32s + l at bits 2s of qs[32h + l].
inline void unpack_2bit(const uint8_t* qs, uint8_t* q) {
  for (int e = 0; e < 256; ++e) q[e] = (qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
}
inline void pack_2bit(const uint8_t* q, uint8_t* qs) {
  std::memset(qs, 0, 64);
  for (int e = 0; e < 256; ++e) qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((q[e] & 3) << (2 * ((e / 32) % 4)));
}
// Q4_K/Q5_K low nibbles: element 64j + 32k + l in nibble k of qs[32j + l].
inline void unpack_4bit(const uint8_t* qs, uint8_t* q) {
  for (int e = 0; e < 256; ++e) q[e] = (qs[32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15;
}
inline void pack_4bit(const uint8_t* q, uint8_t* qs) {
  std::memset(qs, 0, 128);
  for (int e = 0; e < 256; ++e) qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>((q[e] & 15) << (4 * ((e / 32) % 2)));
}
// Q6_K: element 128h + 32k + l: low nibble k/2 of ql[64h + 32(k%2) + l], high 2 bits at
// bits 2k of qh[32h + l].
inline void unpack_q6(const uint8_t* ql, const uint8_t* qh, uint8_t* q) {
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, k = (e / 32) % 4, l = e % 32;
    const int lo = (ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
    q[e] = static_cast<uint8_t>(lo | (((qh[32 * h + l] >> (2 * k)) & 3) << 4));
  }
}
inline void pack_q6(const uint8_t* q, uint8_t* ql, uint8_t* qh) {
  std::memset(ql, 0, 128);
  std::memset(qh, 0, 64);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, k = (e / 32) % 4, l = e % 32;
    ql[64 * h + 32 * (k % 2) + l] |= static_cast<uint8_t>((q[e] & 15) << (4 * (k / 2)));
    qh[32 * h + l] |= static_cast<uint8_t>((q[e] >> 4) << (2 * k));
  }
}
// High bit of element 32j + l at bit j of bits[l] (Q3_K hmask with 2-bit lows, Q5_K qh).
inline void unpack_high(const uint8_t* bits, int shift, uint8_t* q) {
  for (int e = 0; e < 256; ++e) q[e] |= static_cast<uint8_t>(((bits[e % 32] >> (e / 32)) & 1) << shift);
}
inline void pack_high(const uint8_t* q, int shift, uint8_t* bits) {
  std::memset(bits, 0, 32);
  for (int e = 0; e < 256; ++e) bits[e % 32] |= static_cast<uint8_t>(((q[e] >> shift) & 1) << (e / 32));
}

// Q4_K/Q5_K: eight 6-bit (sc, m) pairs in 12 bytes (inverse of scale_min_k4).
inline void pack_scale_min_k4(const uint8_t* sc, const uint8_t* m, uint8_t* p) {
  for (int j = 0; j < 4; ++j) {
    p[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    p[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    p[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}
// Q3_K: sixteen unsigned 6-bit values (sc + 32) in 12 bytes (inverse of scales_q3_k).
inline void pack_scales_q3_k(const uint8_t* v, uint8_t* p) {
  std::memset(p, 0, 12);
  for (int j = 0; j < 16; ++j) {
    p[j % 8] |= static_cast<uint8_t>((v[j] & 15) << (j < 8 ? 0 : 4));
    p[8 + (j & 3)] |= static_cast<uint8_t>((v[j] >> 4) << (2 * (j / 4)));
  }
}

// The scales of super-block src of type t (a K-quant): sc, mn per 16 elements, d, dmin.
inline void unpack_kquant_scales(GgmlType t, const uint8_t* src, KUnpacked* u) {
  std::memset(u->mn, 0, 16);
  u->dmin = 0.0f;
  if (t == GgmlType::kQ2_K) {
    const auto* b = reinterpret_cast<const BlockQ2K*>(src);
    for (int g = 0; g < 16; ++g) {
      u->sc[g] = static_cast<int8_t>(b->scales[g] & 15);
      u->mn[g] = b->scales[g] >> 4;
    }
    u->d = fp16_to_fp32(load_u16(b->d));
    u->dmin = fp16_to_fp32(load_u16(b->dmin));
  } else if (t == GgmlType::kQ3_K) {
    const auto* b = reinterpret_cast<const BlockQ3K*>(src);
    scales_q3_k(b->scales, u->sc);
    u->d = fp16_to_fp32(load_u16(b->d));
  } else if (t == GgmlType::kQ4_K || t == GgmlType::kQ5_K) {
    for (int j = 0; j < 8; ++j) {
      int sc = 0, m = 0;
      scale_min_k4(j, src + 4, &sc, &m);
      u->sc[2 * j] = u->sc[2 * j + 1] = static_cast<int8_t>(sc);
      u->mn[2 * j] = u->mn[2 * j + 1] = static_cast<uint8_t>(m);
    }
    u->d = fp16_to_fp32(load_u16(src));
    u->dmin = fp16_to_fp32(load_u16(src + 2));
  } else {
    const auto* b = reinterpret_cast<const BlockQ6K*>(src);
    std::memcpy(u->sc, b->scales, 16);
    u->d = fp16_to_fp32(load_u16(b->d));
  }
}

// Unpacks super-block src of type t (a K-quant) into u (portable).
inline void unpack_kquant(GgmlType t, const uint8_t* src, KUnpacked* u) {
  unpack_kquant_scales(t, src, u);
  if (t == GgmlType::kQ2_K) {
    unpack_2bit(reinterpret_cast<const BlockQ2K*>(src)->qs, u->q);
  } else if (t == GgmlType::kQ3_K) {
    const auto* b = reinterpret_cast<const BlockQ3K*>(src);
    unpack_2bit(b->qs, u->q);
    unpack_high(b->hmask, 2, u->q);
  } else if (t == GgmlType::kQ4_K || t == GgmlType::kQ5_K) {
    const bool five = t == GgmlType::kQ5_K;
    unpack_4bit(src + (five ? 48 : 16), u->q);
    if (five) unpack_high(src + 16, 4, u->q);
  } else {
    const auto* b = reinterpret_cast<const BlockQ6K*>(src);
    unpack_q6(b->ql, b->qh, u->q);
  }
}

}  // namespace rs::engine::kern
