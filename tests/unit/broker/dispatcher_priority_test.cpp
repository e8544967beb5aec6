// Batch priority in the Dispatcher: interactive jobs leave the queue first at every
// dispatch, and may take a device full of batch jobs up to slots + interactive_reserve
// (its engine preempts a batch job to admit them); batch jobs stay within slots.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rs/broker/dispatcher.h"
#include "rs/core/clock.h"

namespace {

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity

WorkerReady prio_ready(const std::string& id, uint32_t slots) {
  WorkerReady r;
  r.id = id;
  r.devices.push_back({0, slots, {"m"}});
  return r;
}

JobSubmit prio_submit(const std::string& id, Priority p) {
  return {id, "m", p, routing_key({"m", "", "", id}), ""};
}

std::vector<JobId> dispatched_ids(const Actions& actions) {
  std::vector<JobId> out;
  for (const Action& a : actions) {
    if (a.kind == ActionKind::kDispatch) out.push_back(a.job);
  }
  return out;
}

DispatcherOptions prio_options(uint32_t reserve) {
  DispatcherOptions o;
  o.queue.wait_timeout_ms = 60000;
  o.router.interactive_reserve = reserve;
  return o;
}

constexpr Priority kI = Priority::kInteractive;
constexpr Priority kB = Priority::kBatch;

TEST(DispatcherPriority, DeviceFullOfBatchTakesInteractiveAtOnceButNotBatch) {
  rs::ManualClock clock;
  Dispatcher d(clock, prio_options(4));
  d.on_worker_ready(prio_ready("w1", 2));
  const DeviceKey dev{"w1", 0};
  EXPECT_EQ(dispatched_ids(d.on_job_submitted(prio_submit("b1", kB))).size(), 1u);
  EXPECT_EQ(dispatched_ids(d.on_job_submitted(prio_submit("b2", kB))).size(), 1u);
  EXPECT_TRUE(d.on_job_submitted(prio_submit("b3", kB)).empty());  // batch: within slots
  Actions a = d.on_job_submitted(prio_submit("i1", kI));
  ASSERT_EQ(dispatched_ids(a), (std::vector<JobId>{"i1"}));
  EXPECT_EQ(a[0].device, dev);
  EXPECT_EQ(dispatched_ids(d.on_job_submitted(prio_submit("i2", kI))), (std::vector<JobId>{"i2"}));
  // Two interactive jobs now run on a two-slot device: nothing left to preempt.
  EXPECT_TRUE(d.on_job_submitted(prio_submit("i3", kI)).empty());
  EXPECT_EQ(d.workers().in_flight(dev), 4u);
  EXPECT_EQ(d.queue().size(), 2u);
}

TEST(DispatcherPriority, ReserveCapsTheJobsPastTheSlots) {
  rs::ManualClock clock;
  Dispatcher d(clock, prio_options(2));
  d.on_worker_ready(prio_ready("w1", 4));
  for (int i = 0; i < 4; ++i) d.on_job_submitted(prio_submit("b" + std::to_string(i), kB));
  EXPECT_EQ(dispatched_ids(d.on_job_submitted(prio_submit("i1", kI))).size(), 1u);
  EXPECT_EQ(dispatched_ids(d.on_job_submitted(prio_submit("i2", kI))).size(), 1u);
  EXPECT_TRUE(d.on_job_submitted(prio_submit("i3", kI)).empty());  // slots 4 + reserve 2
  EXPECT_EQ(d.workers().in_flight({"w1", 0}), 6u);
  // A batch job ends: the device is still over its slots, so only the interactive job goes.
  d.on_job_submitted(prio_submit("b9", kB));
  EndResult r = d.on_job_ended("b0", 1, {"w1", 0});
  ASSERT_TRUE(r.current);
  EXPECT_EQ(dispatched_ids(r.actions), (std::vector<JobId>{"i3"}));
  EXPECT_TRUE(d.queue().contains("b9"));
}

TEST(DispatcherPriority, ReserveZeroKeepsInteractiveWithinSlots) {
  rs::ManualClock clock;
  Dispatcher d(clock, prio_options(0));
  d.on_worker_ready(prio_ready("w1", 1));
  d.on_job_submitted(prio_submit("b1", kB));
  EXPECT_TRUE(d.on_job_submitted(prio_submit("i1", kI)).empty());
}

TEST(DispatcherPriority, NoOverCommitOnADeviceFullOfInteractiveJobs) {
  rs::ManualClock clock;
  Dispatcher d(clock, prio_options(4));
  d.on_worker_ready(prio_ready("w1", 1));
  EXPECT_EQ(dispatched_ids(d.on_job_submitted(prio_submit("i1", kI))).size(), 1u);
  EXPECT_TRUE(d.on_job_submitted(prio_submit("i2", kI)).empty());  // its engine could not admit it
}

TEST(DispatcherPriority, AFreeSlotElsewhereBeatsOverCommit) {
  rs::ManualClock clock;
  Dispatcher d(clock, prio_options(4));
  d.on_worker_ready(prio_ready("w1", 1));
  d.on_worker_ready(prio_ready("w2", 1));
  Actions first = d.on_job_submitted(prio_submit("b1", kB));
  ASSERT_EQ(first.size(), 1u);
  const DeviceKey busy = first[0].device;
  for (int i = 0; i < 8; ++i) {  // whatever the key hashes to, the free device gets it
    Actions a = d.on_job_submitted(prio_submit("i" + std::to_string(i), kI));
    ASSERT_EQ(dispatched_ids(a).size(), 1u);
    EXPECT_NE(a[0].device, busy);
    ASSERT_TRUE(d.on_job_ended(a[0].job, 1, a[0].device).current);
  }
}

TEST(DispatcherPriority, InteractiveFirstAtEveryDispatch) {
  rs::ManualClock clock;
  Dispatcher d(clock, prio_options(0));
  d.on_worker_ready(prio_ready("w1", 1));
  d.on_job_submitted(prio_submit("run", kB));
  d.on_job_submitted(prio_submit("b1", kB));
  d.on_job_submitted(prio_submit("i1", kI));
  d.on_job_submitted(prio_submit("b2", kB));
  d.on_job_submitted(prio_submit("i2", kI));
  std::vector<JobId> order;
  JobId ending = "run";
  for (int i = 0; i < 4; ++i) {
    EndResult r = d.on_job_ended(ending, 1, {"w1", 0});
    ASSERT_TRUE(r.current);
    std::vector<JobId> ids = dispatched_ids(r.actions);
    ASSERT_EQ(ids.size(), 1u);
    order.push_back(ids[0]);
    ending = ids[0];
    if (i == 1) d.on_job_submitted(prio_submit("i3", kI));  // arrives after the batch jobs
  }
  EXPECT_EQ(order, (std::vector<JobId>{"i1", "i2", "i3", "b1"}));
}

TEST(DispatcherPriority, QueuedInteractiveJobsTakeTheReserveWhenBatchFillsTheDevice) {
  rs::ManualClock clock;
  Dispatcher d(clock, prio_options(4));
  // Jobs queued before any worker: READY places interactive first, then batch within
  // slots, then interactive over the slots while batch jobs run there.
  d.on_job_submitted(prio_submit("b1", kB));
  d.on_job_submitted(prio_submit("b2", kB));
  d.on_job_submitted(prio_submit("i1", kI));
  Actions a = d.on_worker_ready(prio_ready("w1", 1));
  EXPECT_EQ(dispatched_ids(a), (std::vector<JobId>{"i1"}));  // i1 takes the slot; b1 waits
  EXPECT_EQ(d.queue().size(), 2u);
}

}  // namespace
