#include "rs/broker/hash_ring.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace {

// "w" + std::to_string(i) without GCC 12's false -Wrestrict warning.
std::string ring_named(const char* prefix, uint64_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

using rs::broker::DeviceKey;
using rs::broker::HashRing;
using rs::broker::hash_bytes;

std::vector<uint64_t> make_keys(int n) {
  std::vector<uint64_t> keys;
  for (int i = 0; i < n; ++i) keys.push_back(hash_bytes(ring_named("key-", i)));
  return keys;
}

std::vector<DeviceKey> owners(const HashRing& ring, const std::vector<uint64_t>& keys) {
  std::vector<DeviceKey> out;
  for (uint64_t k : keys) out.push_back(*ring.lookup(k));
  return out;
}

TEST(HashRing, EmptyRingHasNoOwner) {
  HashRing ring;
  EXPECT_FALSE(ring.lookup(42).has_value());
  EXPECT_FALSE(ring.first_clockwise(42, [](const DeviceKey&) { return true; }).has_value());
}

TEST(HashRing, AddRemoveContains) {
  HashRing ring(64);
  EXPECT_TRUE(ring.add({"w1", 0}));
  EXPECT_FALSE(ring.add({"w1", 0}));
  EXPECT_TRUE(ring.add({"w1", 1}));
  EXPECT_EQ(ring.num_devices(), 2u);
  EXPECT_TRUE(ring.contains({"w1", 1}));
  EXPECT_TRUE(ring.remove({"w1", 0}));
  EXPECT_FALSE(ring.remove({"w1", 0}));
  EXPECT_EQ(ring.num_devices(), 1u);
  EXPECT_EQ(*ring.lookup(7), (DeviceKey{"w1", 1}));
}

TEST(HashRing, IndependentOfJoinOrder) {
  HashRing a, b;
  a.add({"w1", 0});
  a.add({"w2", 0});
  a.add({"w3", 1});
  b.add({"w3", 1});
  b.add({"w2", 0});
  b.add({"w1", 0});
  auto keys = make_keys(2000);
  EXPECT_EQ(owners(a, keys), owners(b, keys));
}

TEST(HashRing, RemovingADeviceMovesOnlyItsKeys) {
  HashRing ring;
  for (uint32_t d = 0; d < 4; ++d) ring.add({ring_named("w", d / 2), d % 2});
  auto keys = make_keys(10000);
  auto before = owners(ring, keys);
  DeviceKey gone{"w1", 0};
  ring.remove(gone);
  auto after = owners(ring, keys);
  int moved = 0, owned = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (before[i] == gone) {
      ++owned;
      EXPECT_NE(after[i], gone);
    } else {
      EXPECT_EQ(after[i], before[i]) << "key " << i << " moved but was not on the removed device";
    }
    moved += before[i] != after[i];
  }
  EXPECT_EQ(moved, owned);
  EXPECT_GT(owned, 1500);  // ~1/4 of 10k
  EXPECT_LT(owned, 3500);
}

TEST(HashRing, AddingADeviceTakesAboutAFifth) {
  HashRing ring;
  for (uint32_t d = 0; d < 4; ++d) ring.add({ring_named("w", d), 0});
  auto keys = make_keys(10000);
  auto before = owners(ring, keys);
  DeviceKey fresh{"w9", 0};
  ring.add(fresh);
  auto after = owners(ring, keys);
  int moved = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (before[i] != after[i]) {
      ++moved;
      EXPECT_EQ(after[i], fresh) << "a key moved between two old devices";
    }
  }
  EXPECT_GT(moved, 1300);  // ~2000 expected
  EXPECT_LT(moved, 2700);
}

TEST(HashRing, DistributionIsRoughlyEven) {
  HashRing ring;
  for (uint32_t d = 0; d < 8; ++d) ring.add({"w", d});
  std::map<DeviceKey, int> counts;
  for (uint64_t k : make_keys(16000)) ++counts[*ring.lookup(k)];
  ASSERT_EQ(counts.size(), 8u);
  for (const auto& [device, n] : counts) {
    EXPECT_GT(n, 2000 / 2) << device.to_string();
    EXPECT_LT(n, 2000 * 3 / 2) << device.to_string();
  }
}

TEST(HashRing, FirstClockwiseOffersEachDeviceOnceStartingAtTheOwner) {
  HashRing ring;
  for (uint32_t d = 0; d < 5; ++d) ring.add({"w", d});
  for (uint64_t k : make_keys(100)) {
    std::vector<DeviceKey> offered;
    auto none = ring.first_clockwise(k, [&](const DeviceKey& d) {
      offered.push_back(d);
      return false;
    });
    EXPECT_FALSE(none.has_value());
    ASSERT_EQ(offered.size(), 5u);
    EXPECT_EQ(offered[0], *ring.lookup(k));
    std::map<DeviceKey, int> seen;
    for (const auto& d : offered) EXPECT_EQ(++seen[d], 1);
    auto second = ring.first_clockwise(k, [&](const DeviceKey& d) { return d != offered[0]; });
    EXPECT_EQ(*second, offered[1]);
  }
}

}  // namespace
