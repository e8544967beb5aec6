// pack_weight: the row-interleaved copy the AVX-512 kernels read (weight_pack.h).
#include <cstring>

#include "kernels_internal.h"
#include "quant_kquants_pack.h"
#include "rs/engine/thread_pool.h"
#include "weight_pack.h"

namespace rs::engine {

namespace {

void pack_q4_k_group(const WeightView& w, int64_t group, kern::PackedQ4K* out) {
  const int64_t n_blocks = w.n_in / 256;
  kern::KUnpacked u;
  for (int64_t b = 0; b < n_blocks; ++b) {
    kern::PackedQ4K& p = out[group * n_blocks + b];
    for (int r = 0; r < kern::kPackRows; ++r) {
      const auto* src = static_cast<const uint8_t*>(w.data) + (group * kern::kPackRows + r) * w.row_bytes + b * 144;
      kern::unpack_kquant(GgmlType::kQ4_K, src, &u);
      for (int c = 0; c < 32; ++c) {
        for (int i = 0; i < 4; ++i) {
          p.qs[64 * c + 4 * r + i] = static_cast<uint8_t>(u.q[8 * c + i] | u.q[8 * c + 4 + i] << 4);
        }
      }
      for (int j = 0; j < 8; ++j) p.sc[j][r] = static_cast<uint8_t>(u.sc[2 * j]);
      for (int q = 0; q < 4; ++q) {
        for (int h = 0; h < 2; ++h) p.mn[q][2 * r + h] = u.mn[2 * (2 * q + h)];
      }
      std::memcpy(&p.d[r], src, 2);
      std::memcpy(&p.dmin[r], src + 2, 2);
    }
  }
}

void pack_q6_k_group(const WeightView& w, int64_t group, kern::PackedQ6K* out) {
  const int64_t n_blocks = w.n_in / 256;
  kern::KUnpacked u;
  for (int64_t b = 0; b < n_blocks; ++b) {
    kern::PackedQ6K& p = out[group * n_blocks + b];
    std::memset(p.pad, 0, sizeof(p.pad));
    for (int r = 0; r < kern::kPackRows; ++r) {
      const auto* src = static_cast<const uint8_t*>(w.data) + (group * kern::kPackRows + r) * w.row_bytes + b * 210;
      kern::unpack_kquant(GgmlType::kQ6_K, src, &u);
      for (int c = 0; c < 32; ++c) {
        for (int i = 0; i < 4; ++i) {
          p.ql[64 * c + 4 * r + i] = static_cast<uint8_t>((u.q[8 * c + i] & 15) | (u.q[8 * c + 4 + i] & 15) << 4);
        }
      }
      for (int g = 0; g < 16; ++g) {
        for (int i = 0; i < 4; ++i) {
          uint8_t h = 0;
          for (int k = 0; k < 4; ++k) h = static_cast<uint8_t>(h | (u.q[16 * g + 4 * k + i] >> 4) << (2 * k));
          p.qh[64 * g + 4 * r + i] = h;
        }
      }
      for (int q = 0; q < 8; ++q) {
        for (int h = 0; h < 2; ++h) p.sc[q][2 * r + h] = u.sc[2 * q + h];
      }
      std::memcpy(&p.d[r], src + 208, 2);
    }
  }
}

void pack_q8_0_group(const WeightView& w, int64_t group, uint8_t* out) {
  const int64_t n_blocks = w.n_in / 32;
  uint8_t* qs = out + group * kern::packed_q8_0_group_bytes(n_blocks);
  auto* d = reinterpret_cast<uint16_t*>(qs + n_blocks * 512);
  for (int r = 0; r < kern::kPackRows; ++r) {
    const auto* row = static_cast<const uint8_t*>(w.data) + (group * kern::kPackRows + r) * w.row_bytes;
    for (int64_t b = 0; b < n_blocks; ++b) {
      const auto* blk = reinterpret_cast<const kern::BlockQ8_0*>(row + b * 34);
      for (int c = 0; c < 8; ++c) {
        for (int i = 0; i < 4; ++i) {
          qs[b * 512 + 64 * c + 4 * r + i] = static_cast<uint8_t>(blk->qs[4 * c + i] ^ 0x80);
        }
      }
      std::memcpy(&d[b * kern::kPackRows + r], blk->d, 2);
    }
  }
  const int64_t used = n_blocks * 544;
  std::memset(qs + used, 0, static_cast<size_t>(kern::packed_q8_0_group_bytes(n_blocks) - used));
}

}  // namespace

int64_t packed_weight_bytes(const WeightView& w) {
  if (!cpu_has_avx512_vnni() || !kern::packable(w)) return 0;
  return w.n_out / kern::kPackRows * kern::packed_group_bytes(w);
}

void pack_weight(const WeightView& w, void* dst, ThreadPool* pool) {
  if (packed_weight_bytes(w) == 0) return;
  const int64_t n_groups = w.n_out / kern::kPackRows;
  auto run = [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      if (w.type == GgmlType::kQ8_0) {
        pack_q8_0_group(w, g, static_cast<uint8_t*>(dst));
      } else if (w.type == GgmlType::kQ4_K) {
        pack_q4_k_group(w, g, static_cast<kern::PackedQ4K*>(dst));
      } else {
        pack_q6_k_group(w, g, static_cast<kern::PackedQ6K*>(dst));
      }
    }
  };
  if (pool == nullptr || pool->n_threads() <= 1) {
    run(0, n_groups);
  } else {
    pool->parallel_for(n_groups, [&](int, int64_t g0, int64_t g1) { run(g0, g1); });
  }
}

}  // namespace rs::engine
