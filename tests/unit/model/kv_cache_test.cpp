#include "rs/engine/kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include <set>
#include <vector>

namespace rs::engine {
namespace {

KvCacheConfig tiny(int n_blocks) {
  KvCacheConfig c;
  c.n_layers = 2;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  c.block_tokens = 4;
  c.n_blocks = n_blocks;
  return c;
}

TEST(KvCache, AllocatesUntilExhausted) {
  KvCache kv(tiny(3));
  EXPECT_EQ(kv.n_free_blocks(), 3);
  std::set<BlockId> got;
  for (int i = 0; i < 3; ++i) {
    auto b = kv.allocate();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(kv.refcount(*b), 1);
    got.insert(*b);
  }
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(kv.n_free_blocks(), 0);
  EXPECT_FALSE(kv.allocate().has_value());
}

TEST(KvCache, RefcountsFreeAtZero) {
  KvCache kv(tiny(1));
  BlockId b = *kv.allocate();
  kv.retain(b);
  EXPECT_EQ(kv.refcount(b), 2);
  kv.release(b);
  EXPECT_EQ(kv.n_free_blocks(), 0);
  kv.release(b);
  EXPECT_EQ(kv.refcount(b), 0);
  EXPECT_EQ(kv.n_free_blocks(), 1);
  kv.release(b);  // double release is ignored
  EXPECT_EQ(kv.n_free_blocks(), 1);
  kv.release(99);  // out of range is ignored
  kv.retain(-1);
  EXPECT_EQ(*kv.allocate(), b);
}

TEST(KvCache, BlocksFor) {
  KvCache kv(tiny(2));
  EXPECT_EQ(kv.blocks_for(0), 0);
  EXPECT_EQ(kv.blocks_for(1), 1);
  EXPECT_EQ(kv.blocks_for(4), 1);
  EXPECT_EQ(kv.blocks_for(5), 2);
}

TEST(KvCache, StorageLayoutIsDisjointAndContiguous) {
  for (KvCacheType type : {KvCacheType::kF16, KvCacheType::kF32}) {
    KvCacheConfig c = tiny(2);
    c.type = type;
    KvCache kv(c);
    EXPECT_EQ(kv.row_elems(), 8);
    const auto elem = static_cast<int64_t>(kv.elem_bytes());
    EXPECT_EQ(elem, type == KvCacheType::kF32 ? 4 : 2);
    const int64_t rows = 4 * 8 * elem;  // bytes of one block's K (or V) rows of a layer
    auto at = [](const void* p) { return static_cast<const uint8_t*>(p); };
    EXPECT_EQ(at(kv.v(0, 0)) - at(kv.k(0, 0)), rows);
    EXPECT_EQ(at(kv.k(0, 1)) - at(kv.k(0, 0)), 2 * rows);
    EXPECT_EQ(at(kv.k(1, 0)) - at(kv.k(0, 0)), 4 * rows);
    EXPECT_EQ(kv.bytes(), static_cast<uint64_t>(2 * 4 * rows));
    std::memset(static_cast<uint8_t*>(kv.v(1, 1)) + rows - elem, 0x5a, static_cast<size_t>(elem));  // the last value
    EXPECT_EQ(at(kv.v(1, 1))[rows - 1], 0x5a);
    EXPECT_EQ(kv_cache_type_name(type), std::string(type == KvCacheType::kF32 ? "f32" : "f16"));
    EXPECT_EQ(parse_kv_cache_type(kv_cache_type_name(type)), type);
  }
  EXPECT_FALSE(parse_kv_cache_type("q8_0").has_value());
}

TEST(KvCache, ChainHashIsStableAndOrderSensitive) {
  std::vector<int32_t> a = {1, 2, 3, 4};
  std::vector<int32_t> b = {1, 2, 4, 3};
  EXPECT_EQ(KvCache::chain_hash(0, a), KvCache::chain_hash(0, a));
  EXPECT_NE(KvCache::chain_hash(0, a), KvCache::chain_hash(0, b));
  EXPECT_NE(KvCache::chain_hash(0, a), KvCache::chain_hash(1, a));
  EXPECT_NE(KvCache::chain_hash(0, a), 0u);
  // A fixed value: the hash must not change between builds (persisted prefix ids).
  const uint64_t h = KvCache::chain_hash(0, a);
  EXPECT_EQ(h, KvCache::chain_hash(0, std::vector<int32_t>{1, 2, 3, 4}));
}

TEST(KvCache, PublishLookupShares) {
  KvCache kv(tiny(2));
  BlockId b = *kv.allocate();
  kv.publish(b, 42);
  auto hit = kv.lookup(42);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, b);
  EXPECT_EQ(kv.refcount(b), 2);
  EXPECT_FALSE(kv.lookup(43).has_value());
  kv.release(b);
  kv.release(b);
  // Cached but unreferenced: counts as free, still found.
  EXPECT_EQ(kv.n_free_blocks(), 2);
  hit = kv.lookup(42);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(kv.refcount(b), 1);
  EXPECT_EQ(kv.n_free_blocks(), 1);
  kv.release(b);
}

TEST(KvCache, EvictsCachedOnlyWhenNoFreshBlockAndLruFirst) {
  KvCache kv(tiny(3));
  BlockId a = *kv.allocate();
  BlockId b = *kv.allocate();
  kv.publish(a, 1);
  kv.publish(b, 2);
  kv.release(b);  // released first: least recently used
  kv.release(a);
  EXPECT_EQ(kv.n_free_blocks(), 3);
  BlockId c = *kv.allocate();  // the never-used block
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_TRUE(kv.lookup(1).has_value());  // a retained again
  kv.release(a);                           // a is now most recent
  BlockId d = *kv.allocate();              // evicts b (older)
  EXPECT_EQ(d, b);
  EXPECT_FALSE(kv.lookup(2).has_value());
  EXPECT_TRUE(kv.lookup(1).has_value());
  kv.release(a);
  BlockId e = *kv.allocate();
  EXPECT_EQ(e, a);
  EXPECT_FALSE(kv.lookup(1).has_value());
  EXPECT_FALSE(kv.allocate().has_value());
}

TEST(KvCache, DuplicatePublishKeepsFirst) {
  KvCache kv(tiny(2));
  BlockId a = *kv.allocate();
  BlockId b = *kv.allocate();
  kv.publish(a, 7);
  kv.publish(b, 7);
  EXPECT_EQ(*kv.lookup(7), a);
  kv.release(a);
  kv.release(a);
  kv.release(b);  // unpublished: plain free
  EXPECT_EQ(kv.n_free_blocks(), 2);
  EXPECT_EQ(*kv.allocate(), b);  // fresh block before evicting the cached one
}

TEST(KvCache, DisabledPrefixCache) {
  KvCache kv(tiny(2));
  BlockId a = *kv.allocate();
  kv.publish(a, 5);
  kv.set_prefix_cache_enabled(false);
  EXPECT_FALSE(kv.lookup(5).has_value());
  kv.release(a);
  EXPECT_EQ(kv.n_free_blocks(), 2);
  kv.set_prefix_cache_enabled(true);
  EXPECT_FALSE(kv.lookup(5).has_value());
  BlockId b = *kv.allocate();
  kv.publish(b, 6);
  kv.release(b);
  kv.set_prefix_cache_enabled(false);  // drops cached blocks
  EXPECT_EQ(kv.n_free_blocks(), 2);
  kv.set_prefix_cache_enabled(true);
  EXPECT_FALSE(kv.lookup(6).has_value());
}

}  // namespace
}  // namespace rs::engine
