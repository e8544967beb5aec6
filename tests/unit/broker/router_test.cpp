#include "rs/broker/router.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

// "w" + std::to_string(i) without GCC 12's false -Wrestrict warning.
std::string router_named(const char* prefix, uint64_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

using rs::broker::DeviceKey;
using rs::broker::DeviceLoadView;
using rs::broker::RouteRequest;
using rs::broker::Router;
using rs::broker::RouterOptions;
using rs::broker::routing_key;

// In-memory load: per device in-flight count and slot count.
class FakeLoad : public DeviceLoadView {
 public:
  struct Dev {
    uint32_t in_flight = 0;
    uint32_t slots = 1000;
  };
  uint32_t in_flight(const DeviceKey& d) const override { return at(d).in_flight; }
  uint32_t free_slots(const DeviceKey& d) const override {
    const Dev& x = at(d);
    return x.in_flight >= x.slots ? 0 : x.slots - x.in_flight;
  }
  Dev& operator[](const DeviceKey& d) { return devs_[d]; }

 private:
  const Dev& at(const DeviceKey& d) const {
    static const Dev kNone{0, 0};
    auto it = devs_.find(d);
    return it == devs_.end() ? kNone : it->second;
  }
  std::map<DeviceKey, Dev> devs_;
};

std::vector<DeviceKey> add_devices(Router& r, FakeLoad& load, const std::string& model, int n) {
  std::vector<DeviceKey> out;
  for (int i = 0; i < n; ++i) {
    DeviceKey d{router_named("w", i / 2), static_cast<uint32_t>(i % 2)};
    r.add_device(model, d);
    load[d];
    out.push_back(d);
  }
  return out;
}

TEST(RoutingKey, AffinityThenSessionThenPrompt) {
  RouteRequest a{"m", "aff", "sess", "hello"};
  RouteRequest b{"m", "aff", "other", "bye"};
  EXPECT_EQ(routing_key(a), routing_key(b));  // the affinity key wins
  RouteRequest c{"m", "", "sess", "hello"};
  RouteRequest d{"m", "", "sess", "bye"};
  EXPECT_EQ(routing_key(c), routing_key(d));  // then the session
  EXPECT_NE(routing_key(a), routing_key(c));
  RouteRequest e{"m", "", "", "hello"};
  RouteRequest f{"m2", "", "", "hello"};
  EXPECT_NE(routing_key(e), routing_key(f));  // the model counts without a key
  std::string long_a(300, 'x'), long_b(300, 'x');
  long_b[299] = 'y';  // differs only past 256 bytes
  EXPECT_EQ(routing_key({"m", "", "", long_a}), routing_key({"m", "", "", long_b}));
  long_b[100] = 'y';
  EXPECT_NE(routing_key({"m", "", "", long_a}), routing_key({"m", "", "", long_b}));
}

TEST(Router, UnknownModelHasNoCapacity) {
  Router r;
  FakeLoad load;
  EXPECT_FALSE(r.route("nope", 1, load).has_value());
  EXPECT_EQ(r.load_bound("nope", load), 0u);
}

TEST(Router, BoundIsCeilOfFactorTimesAverage) {
  Router r;
  FakeLoad load;
  auto devs = add_devices(r, load, "m", 4);
  EXPECT_EQ(r.load_bound("m", load), 1u);  // ceil(1.25 x 1/4)
  load[devs[0]].in_flight = 7;               // total 7: ceil(1.25 x 8/4) = 3
  EXPECT_EQ(r.load_bound("m", load), 3u);
  load[devs[1]].in_flight = 8;               // total 15: ceil(1.25 x 16/4) = 5
  EXPECT_EQ(r.load_bound("m", load), 5u);
}

TEST(Router, SameAffinityKeySameDeviceWhileUnderBound) {
  Router r;
  FakeLoad load;
  auto devs = add_devices(r, load, "m", 4);
  for (auto& d : devs) load[d].in_flight = 10;
  uint64_t key = routing_key({"m", "user-42", "", ""});
  DeviceKey home = *r.route("m", key, load);
  // Jobs with one key pile onto one device while it is under the bound, and spill
  // clockwise exactly when it reaches it.
  for (int i = 0; i < 100; ++i) {
    uint32_t bound = r.load_bound("m", load);
    auto d = r.route("m", key, load);
    ASSERT_TRUE(d.has_value());
    if (load[home].in_flight < bound) {
      EXPECT_EQ(*d, home) << "at job " << i;
    } else {
      EXPECT_NE(*d, home) << "at job " << i;
    }
    ++load[*d].in_flight;
  }
  EXPECT_GT(load[home].in_flight, 20u);  // it did take most of them
}

TEST(Router, DeviceAtBoundPassesClockwise) {
  Router r;
  FakeLoad load;
  add_devices(r, load, "m", 3);
  uint64_t key = 12345;
  const auto* ring = r.ring("m");
  DeviceKey owner = *ring->lookup(key);
  DeviceKey next = *ring->first_clockwise(key, [&](const DeviceKey& d) { return d != owner; });
  load[owner].in_flight = 5;  // bound: ceil(1.25 x 6/3) = 3
  EXPECT_EQ(*r.route("m", key, load), next);
}

TEST(Router, OnlyDevicesWithFreeSlotsQualify) {
  Router r;
  FakeLoad load;
  auto devs = add_devices(r, load, "m", 2);
  load[devs[0]].slots = 1;
  load[devs[1]].slots = 1;
  load[devs[0]].in_flight = 1;
  EXPECT_EQ(*r.route("m", 99, load), devs[1]);
  load[devs[1]].in_flight = 1;
  EXPECT_FALSE(r.route("m", 99, load).has_value());
}

TEST(Router, OnlyDevicesWithTheModelQualify) {
  Router r;
  FakeLoad load;
  r.add_device("a", {"w1", 0});
  r.add_device("b", {"w2", 0});
  load[{"w1", 0}];
  load[{"w2", 0}];
  for (uint64_t k = 0; k < 50; ++k) EXPECT_EQ(r.route("a", k * 7919, load)->worker, "w1");
  r.remove_device_everywhere({"w1", 0});
  EXPECT_FALSE(r.serves("a"));
  EXPECT_TRUE(r.serves("b"));
}

TEST(Router, NoDeviceEverExceedsItsBoundUnderRandomLoad) {
  Router r;
  FakeLoad load;
  auto devs = add_devices(r, load, "m", 5);
  std::mt19937_64 rng(7);
  std::vector<DeviceKey> running;
  for (int step = 0; step < 20000; ++step) {
    bool finish = !running.empty() && rng() % 100 < 45;
    if (finish) {
      size_t i = rng() % running.size();
      --load[running[i]].in_flight;
      running[i] = running.back();
      running.pop_back();
      continue;
    }
    uint64_t key = rng() % 40;  // few hot keys: plenty of pressure on their owners
    uint32_t bound = r.load_bound("m", load);
    auto d = r.route("m", key * 0x9e3779b97f4a7c15ULL, load);
    ASSERT_TRUE(d.has_value());
    ASSERT_LT(load[*d].in_flight, bound);  // after taking it: <= bound
    ++load[*d].in_flight;
    running.push_back(*d);
  }
}

TEST(Router, DistributionSanity) {
  Router r;
  FakeLoad load;
  auto devs = add_devices(r, load, "m", 4);
  for (int i = 0; i < 4000; ++i) {
    uint64_t key = routing_key({"m", "", "", router_named("prompt ", i)});
    ++load[*r.route("m", key, load)].in_flight;
  }
  for (auto& d : devs) {
    EXPECT_GE(load[d].in_flight, 700u) << d.to_string();
    EXPECT_LE(load[d].in_flight, 1250u) << d.to_string();  // ceil(1.25 x 1000)
  }
}

}  // namespace
