// attend_heads (one decode token, many heads, K/V rows read once) gives bit for bit what
// attend_group gives for each head alone, with and without grouped-query heads.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "../../../engine/src/model/attention.h"
#include "rs/engine/kernels.h"
#include "rs/engine/kv_cache.h"

namespace rs::engine {
namespace {

void check(int n_heads, int n_kv_heads, int head_dim, int32_t pos, int h0, int h1) {
  KvCacheConfig kc;
  kc.n_layers = 2;
  kc.n_kv_heads = n_kv_heads;
  kc.head_dim = head_dim;
  kc.block_tokens = 16;
  kc.n_blocks = 8;
  KvCache kv(kc);
  std::vector<BlockId> blocks;
  for (int b = 0; b < kv.blocks_for(pos + 1); ++b) blocks.push_back(*kv.allocate());
  std::mt19937 rng(static_cast<uint32_t>(pos * 31 + n_heads));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t row = int64_t{n_kv_heads} * head_dim;
  std::vector<float> k(static_cast<size_t>(row)), v(static_cast<size_t>(row));
  for (int32_t p = 0; p <= pos; ++p) {
    for (auto& x : k) x = dist(rng);
    for (auto& x : v) x = dist(rng);
    kv_store(kv, 1, blocks, p, k.data(), v.data());
  }
  const int64_t q_dim = int64_t{n_heads} * head_dim;
  std::vector<float> q(static_cast<size_t>(q_dim));
  for (auto& x : q) x = dist(rng);
  const AttnGeometry g{n_heads, n_kv_heads, head_dim, 0.125f, true};
  std::vector<float> scores(static_cast<size_t>(n_heads * (pos + 1)));
  std::vector<float> out(static_cast<size_t>(q_dim), 7.0f), ref(static_cast<size_t>(q_dim), 7.0f);
  AttnBuffers buf{q.data(), q_dim, scores.data(), pos + 1, out.data(), q_dim};
  attend_heads(kv, 1, blocks, pos, h0, h1, g, buf);
  for (int h = h0; h < h1; ++h) {
    AttnBuffers one{q.data() + h * head_dim, q_dim, scores.data(), pos + 1, ref.data() + h * head_dim, q_dim};
    attend_group(kv, 1, blocks, pos, 1, h, g, one);
  }
  ASSERT_EQ(0, std::memcmp(out.data(), ref.data(), out.size() * sizeof(float)))
      << n_heads << "/" << n_kv_heads << " heads, pos " << pos << ", heads " << h0 << ".." << h1;
}

TEST(AttendHeads, BitIdenticalToAttendGroup) {
  if (!attention_uses_avx2(KernelPath::kAuto, 64)) GTEST_SKIP() << "no AVX2/FMA";
  for (int32_t pos : {0, 5, 15, 16, 40, 100}) {
    check(12, 12, 64, pos, 0, 12);
    check(12, 12, 64, pos, 3, 9);
    check(8, 2, 32, pos, 0, 8);
    check(8, 2, 32, pos, 1, 6);
  }
}

}  // namespace
}  // namespace rs::engine
