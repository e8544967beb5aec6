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

}  // namespace

int64_t packed_weight_bytes(const WeightView& w) {
  if (!cpu_has_avx512_vnni() || !kern::packable(w)) return 0;
  return w.n_out / kern::kPackRows * (w.n_in / 256) * static_cast<int64_t>(sizeof(kern::PackedQ4K));
}

void pack_weight(const WeightView& w, void* dst, ThreadPool* pool) {
  if (packed_weight_bytes(w) == 0) return;
  auto* out = static_cast<kern::PackedQ4K*>(dst);
  const int64_t n_groups = w.n_out / kern::kPackRows;
  auto run = [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) pack_q4_k_group(w, g, out);
  };
  if (pool == nullptr || pool->n_threads() <= 1) {
    run(0, n_groups);
  } else {
    pool->parallel_for(n_groups, [&](int, int64_t g0, int64_t g1) { run(g0, g1); });
  }
}

}  // namespace rs::engine
