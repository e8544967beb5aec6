// Internal to rs_engine_kernels: the packed copy of a weight matrix that the AVX-512
// kernels read (kernels.h: pack_weight). Q8_0, Q4_K and Q6_K: 16 rows interleaved, one packed
// block per (group of 16 rows, super-block), group after group, so that one 64-byte load
// holds 8 elements of each of the 16 rows and a vpdpbusd against one broadcast activation
// dword leaves each row's dot in its own 32-bit lane.
#pragma once

#include <cstdint>

#include "rs/engine/kernels.h"

namespace rs::engine::kern {

constexpr int64_t kPackRows = 16;

// Row r's super-block of 256 4-bit values q[k], scales sc[j] and mins mn[j] (j = k / 32).
struct PackedQ4K {
  // qs[64 * c + 4 * r + i] = q[8c + i] | q[8c + 4 + i] << 4 (c < 32, i < 4): chunk c holds
  // elements 8c..8c+3 in the low nibbles and 8c+4..8c+7 in the high ones, row r in lane r.
  uint8_t qs[2048];
  uint8_t sc[8][16];    // sc[j][r]
  uint8_t mn[4][32];    // mn[p][2r + h] = row r's min of sub-block 2p + h (int16 pairs once widened)
  uint16_t d[16];       // fp16, as in the row's block
  uint16_t dmin[16];
};
static_assert(sizeof(PackedQ4K) == 2368 && sizeof(PackedQ4K) % 64 == 0);

// Q6_K: row r's super-block of 256 6-bit values q[k] (stored + 32) and 16 int8 scales sc[g]
// (g = k / 16). Lane r of each 64-byte vector holds row r.
struct PackedQ6K {
  uint8_t ql[2048];    // ql[64 * c + 4 * r + i] = (q[8c + i] & 15) | (q[8c + 4 + i] & 15) << 4
  // qh[64 * g + 4 * r + i]: the top two bits of q[16g + i], q[16g + 4 + i], q[16g + 8 + i],
  // q[16g + 12 + i] at bits 0, 2, 4 and 6.
  uint8_t qh[1024];
  int8_t sc[8][32];    // sc[p][2r + h] = row r's scale of group 2p + h (int16 pairs once widened)
  uint16_t d[16];      // fp16, as in the row's block
  uint8_t pad[32];
};
static_assert(sizeof(PackedQ6K) == 3392 && sizeof(PackedQ6K) % 64 == 0);

// Q8_0: a group's blocks of 32 are qs[b][64 * c + 4 * r + i] = q_r[32b + 4c + i] + 128 (c < 8,
// uint8, for vpdpbusd against signed activations), then their scales d[b][r] (fp16); the
// group's bytes rounded up to 64.
inline int64_t packed_q8_0_group_bytes(int64_t n_blocks) { return (n_blocks * 544 + 63) / 64 * 64; }

inline int64_t packed_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::kQ4_K: return sizeof(PackedQ4K);
    case GgmlType::kQ6_K: return sizeof(PackedQ6K);
    default: return 0;
  }
}

inline bool packable(const WeightView& w) {
  if (w.n_out % kPackRows != 0 || w.n_in <= 0) return false;
  if (w.type == GgmlType::kQ8_0) return w.n_in % 32 == 0;
  return packed_block_bytes(w.type) > 0 && w.n_in % 256 == 0;
}

// Bytes of one group of kPackRows packed rows.
inline int64_t packed_group_bytes(const WeightView& w) {
  if (w.type == GgmlType::kQ8_0) return packed_q8_0_group_bytes(w.n_in / 32);
  return w.n_in / 256 * packed_block_bytes(w.type);
}

}  // namespace rs::engine::kern
