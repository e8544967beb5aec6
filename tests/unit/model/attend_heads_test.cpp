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

void check(KvCacheType type, int n_heads, int n_kv_heads, int head_dim, int32_t pos, int h0, int h1) {
  KvCacheConfig kc;
  kc.type = type;
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
      << kv_cache_type_name(type) << " cache, " << n_heads << "/" << n_kv_heads << " heads, pos " << pos
      << ", heads " << h0 << ".." << h1;
}

TEST(AttendHeads, BitIdenticalToAttendGroup) {
  if (!attention_uses_avx2(KernelPath::kAuto, 64)) GTEST_SKIP() << "no AVX2/FMA";
  for (KvCacheType type : {KvCacheType::kF16, KvCacheType::kF32}) {
    for (int32_t pos : {0, 5, 15, 16, 40, 100}) {
      check(type, 12, 12, 64, pos, 0, 12);
      check(type, 12, 12, 64, pos, 3, 9);
      check(type, 8, 2, 32, pos, 0, 8);
      check(type, 8, 2, 32, pos, 1, 6);
    }
  }
}

// An f16 cache keeps K and V rounded to nearest even (as fp32_to_fp16), any row length; an
// f32 cache keeps them exactly.
TEST(KvStore, RowsAreStoredInTheCacheType) {
  KvCacheConfig kc;
  kc.n_layers = 1;
  kc.n_kv_heads = 3;
  kc.head_dim = 7;  // 21 values: the F16C loop and its scalar tail
  kc.block_tokens = 4;
  kc.n_blocks = 2;
  KvCache kv(kc);
  std::vector<BlockId> blocks = {*kv.allocate(), *kv.allocate()};
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 100.0f);
  std::vector<float> k(21), v(21);
  for (auto& x : k) x = dist(rng);
  for (auto& x : v) x = dist(rng);
  k[0] = 1e6f;       // beyond fp16: infinity
  k[1] = 1.0e-7f;    // an fp16 subnormal
  k[2] = 1.00048828125f;  // halfway between two fp16 values: to even
  kv_store(kv, 0, blocks, 5, k.data(), v.data());
  const uint16_t* ks = static_cast<const uint16_t*>(kv.k(blocks[1], 0)) + 1 * 21;
  const uint16_t* vs = static_cast<const uint16_t*>(kv.v(blocks[1], 0)) + 1 * 21;
  for (int i = 0; i < 21; ++i) {
    EXPECT_EQ(ks[i], fp32_to_fp16(k[static_cast<size_t>(i)])) << i;
    EXPECT_EQ(vs[i], fp32_to_fp16(v[static_cast<size_t>(i)])) << i;
  }
  EXPECT_EQ(ks[0], 0x7c00);
  EXPECT_EQ(ks[2], 0x3c00);

  kc.type = KvCacheType::kF32;
  KvCache kv32(kc);
  std::vector<BlockId> blocks32 = {*kv32.allocate(), *kv32.allocate()};
  kv_store(kv32, 0, blocks32, 5, k.data(), v.data());
  EXPECT_EQ(0, std::memcmp(static_cast<const float*>(kv32.k(blocks32[1], 0)) + 21, k.data(), 21 * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(static_cast<const float*>(kv32.v(blocks32[1], 0)) + 21, v.data(), 21 * sizeof(float)));
}

}  // namespace
}  // namespace rs::engine
