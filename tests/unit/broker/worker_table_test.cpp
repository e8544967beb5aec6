#include "rs/broker/worker_table.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "rs/core/clock.h"

namespace {

using rs::broker::DeviceKey;
using rs::broker::HeldJob;
using rs::broker::WorkerReady;
using rs::broker::WorkerTable;
using rs::broker::WorkerTableOptions;

WorkerReady table_ready(const std::string& id, uint32_t n_devices, uint32_t slots) {
  WorkerReady r;
  r.id = id;
  for (uint32_t i = 0; i < n_devices; ++i) r.devices.push_back({i, slots, {"m"}});
  return r;
}

std::vector<std::string> job_ids(std::vector<HeldJob> held) {
  std::vector<std::string> ids;
  for (auto& h : held) ids.push_back(h.job);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(WorkerTable, RegistersDevicesWithSlotsAndModels) {
  rs::ManualClock clock;
  WorkerTable t(clock);
  EXPECT_TRUE(t.register_worker(table_ready("w1", 2, 4)).empty());
  EXPECT_TRUE(t.contains("w1"));
  ASSERT_NE(t.device({"w1", 1}), nullptr);
  EXPECT_EQ(t.device({"w1", 1})->models, (std::vector<std::string>{"m"}));
  EXPECT_EQ(t.free_slots({"w1", 0}), 4u);
  EXPECT_EQ(t.in_flight({"w1", 0}), 0u);
  EXPECT_EQ(t.free_slots({"w1", 7}), 0u);  // unknown device: no room
  EXPECT_EQ(t.free_slots({"nobody", 0}), 0u);
}

TEST(WorkerTable, InFlightBookkeeping) {
  rs::ManualClock clock;
  WorkerTable t(clock);
  t.register_worker(table_ready("w1", 1, 2));
  DeviceKey d{"w1", 0};
  EXPECT_TRUE(t.assign(d, "a"));
  EXPECT_FALSE(t.assign(d, "a"));
  EXPECT_TRUE(t.assign(d, "b"));
  EXPECT_EQ(t.in_flight(d), 2u);
  EXPECT_EQ(t.free_slots(d), 0u);
  EXPECT_TRUE(t.release(d, "a"));
  EXPECT_FALSE(t.release(d, "a"));
  EXPECT_EQ(t.free_slots(d), 1u);
  EXPECT_FALSE(t.assign({"w1", 5}, "c"));
  EXPECT_TRUE(t.set_slots(d, 0));
  EXPECT_EQ(t.free_slots(d), 0u);  // over-committed counts as full, never wraps
}

TEST(WorkerTable, ExpiresAfterMissedBeats) {
  rs::ManualClock clock;
  WorkerTable t(clock, WorkerTableOptions{.heartbeat_interval_ms = 1000, .missed_beats = 3});
  t.register_worker(table_ready("w1", 1, 1));
  t.register_worker(table_ready("w2", 1, 1));
  clock.advance_ms(2000);
  EXPECT_TRUE(t.touch("w2"));
  EXPECT_FALSE(t.touch("ghost"));
  clock.advance_ms(1000);  // w1 silent exactly 3000 ms: not yet
  EXPECT_TRUE(t.expired_workers().empty());
  clock.advance_ms(1);
  EXPECT_EQ(t.expired_workers(), (std::vector<std::string>{"w1"}));
  clock.advance_ms(2000);
  EXPECT_EQ(t.expired_workers(), (std::vector<std::string>{"w1", "w2"}));
}

TEST(WorkerTable, NextExpiryIsTheEarliest) {
  rs::ManualClock clock;
  WorkerTable t(clock, WorkerTableOptions{.heartbeat_interval_ms = 100, .missed_beats = 2});
  EXPECT_FALSE(t.next_expiry_ns().has_value());
  t.register_worker(table_ready("w1", 1, 1));
  int64_t first = *t.next_expiry_ns();
  clock.advance_ms(50);
  t.register_worker(table_ready("w2", 1, 1));
  EXPECT_EQ(*t.next_expiry_ns(), first);
  clock.set_ns(first);
  EXPECT_EQ(t.expired_workers(), (std::vector<std::string>{"w1"}));
}

TEST(WorkerTable, RemoveReturnsHeldJobs) {
  rs::ManualClock clock;
  WorkerTable t(clock);
  t.register_worker(table_ready("w1", 2, 4));
  t.assign({"w1", 0}, "a");
  t.assign({"w1", 1}, "b");
  t.assign({"w1", 1}, "c");
  auto held = t.remove_worker("w1");
  EXPECT_EQ(job_ids(held), (std::vector<std::string>{"a", "b", "c"}));
  for (auto& h : held) EXPECT_EQ(h.device.worker, "w1");
  EXPECT_FALSE(t.contains("w1"));
  EXPECT_TRUE(t.remove_worker("w1").empty());
}

TEST(WorkerTable, ReReadyReplacesAndHandsBackJobs) {
  rs::ManualClock clock;
  WorkerTable t(clock);
  t.register_worker(table_ready("w1", 1, 4));
  t.assign({"w1", 0}, "a");
  auto held = t.register_worker(table_ready("w1", 3, 2));  // the worker restarted
  EXPECT_EQ(job_ids(held), (std::vector<std::string>{"a"}));
  EXPECT_EQ(t.in_flight({"w1", 0}), 0u);
  EXPECT_EQ(t.free_slots({"w1", 2}), 2u);
  EXPECT_EQ(t.find("w1")->devices.size(), 3u);
}

}  // namespace
