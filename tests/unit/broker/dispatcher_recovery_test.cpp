// Dispatcher: adoption of the jobs a re-registering worker still holds, and restart
// recovery (queued jobs queued again; dispatched ones wait for their worker, then requeue).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rs/broker/dispatcher.h"
#include "rs/core/clock.h"

namespace {

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity

constexpr int64_t kMs = 1'000'000;

WorkerReady ready(const std::string& id, uint32_t n_devices, uint32_t slots,
                  std::vector<ClaimedJob> jobs = {}) {
  WorkerReady r;
  r.id = id;
  for (uint32_t i = 0; i < n_devices; ++i) r.devices.push_back({i, slots, {"m"}});
  r.jobs = std::move(jobs);
  return r;
}

JobSubmit submit(const std::string& id) { return {id, "m", Priority::kBatch, routing_key({"m", "", "", id}), ""}; }

std::vector<Action> of_kind(const Actions& actions, ActionKind kind) {
  std::vector<Action> out;
  for (const Action& a : actions) {
    if (a.kind == kind) out.push_back(a);
  }
  return out;
}

DispatcherOptions options() {
  DispatcherOptions o;
  o.workers.heartbeat_interval_ms = 100000;  // no worker expires in these tests
  o.max_attempts = 3;
  return o;
}

RecoveredJob dispatched(const std::string& id, const std::string& worker, uint32_t device,
                        uint32_t attempt) {
  return RecoveredJob{submit(id), attempt, DeviceKey{worker, device}, "m"};
}

RecoveredJob queued(const std::string& id) { return RecoveredJob{submit(id), 1, std::nullopt, ""}; }

TEST(DispatcherRecovery, QueuedJobsAreQueuedOldestFirstAndDispatchedWhenAWorkerComes) {
  rs::ManualClock clock;
  Dispatcher d(clock, options());
  std::vector<RecoveredJob> jobs;
  for (const char* id : {"q1", "q2", "q3"}) jobs.push_back(queued(id));
  EXPECT_TRUE(d.on_recovered(std::move(jobs), clock.now_ns() + 5000 * kMs).empty());
  EXPECT_EQ(d.queue().size(), 3u);
  Actions a = d.on_worker_ready(ready("w1", 1, 2));
  auto sent = of_kind(a, ActionKind::kDispatch);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].job, "q1");
  EXPECT_EQ(sent[1].job, "q2");
  EXPECT_EQ(sent[0].attempt, 1u);
}

TEST(DispatcherRecovery, AWorkerListingItsRunningJobGetsItAdoptedNotRunAgain) {
  rs::ManualClock clock;
  Dispatcher d(clock, options());
  d.on_recovered({dispatched("j1", "w1", 0, 2)}, clock.now_ns() + 5000 * kMs);
  EXPECT_EQ(d.recovering(), 1u);
  EXPECT_FALSE(d.is_current("j1", 2, {"w1", 0})) << "not current before its worker speaks";
  Actions a = d.on_worker_ready(ready("w1", 1, 2, {{"j1", 2, 0}}));
  auto adopted = of_kind(a, ActionKind::kAdopted);
  ASSERT_EQ(adopted.size(), 1u);
  EXPECT_EQ(adopted[0].job, "j1");
  EXPECT_EQ(adopted[0].attempt, 2u);
  EXPECT_TRUE(of_kind(a, ActionKind::kDispatch).empty());
  EXPECT_EQ(d.recovering(), 0u);
  EXPECT_TRUE(d.is_current("j1", 2, {"w1", 0}));
  EXPECT_EQ(d.workers().in_flight({"w1", 0}), 1u) << "the adopted job holds its slot";
  clock.advance_ms(6000);
  EXPECT_TRUE(d.tick().empty()) << "nothing to requeue after the deadline";
  EXPECT_TRUE(d.on_job_ended("j1", 2, {"w1", 0}).current);
}

TEST(DispatcherRecovery, ClaimsThatAreNotCurrentAreCancelledOnTheWorker) {
  rs::ManualClock clock;
  Dispatcher d(clock, options());
  d.on_recovered({dispatched("j1", "w1", 0, 1), dispatched("j2", "w2", 0, 1)}, clock.now_ns() + 5000 * kMs);
  // Wrong attempt, wrong worker, unknown job: none is adopted.
  Actions a = d.on_worker_ready(ready("w1", 1, 4, {{"j1", 7, 0}, {"j2", 1, 0}, {"zz", 1, 0}}));
  EXPECT_TRUE(of_kind(a, ActionKind::kAdopted).empty());
  auto cancels = of_kind(a, ActionKind::kCancelOnWorker);
  ASSERT_EQ(cancels.size(), 3u);
  EXPECT_EQ(cancels[0].device, (DeviceKey{"w1", 0}));
  EXPECT_EQ(d.recovering(), 2u);
}

TEST(DispatcherRecovery, UnclaimedJobsAreRequeuedAfterTheDeadlineWithANewAttempt) {
  rs::ManualClock clock;
  Dispatcher d(clock, options());
  d.on_recovered({dispatched("j1", "gone", 0, 1), dispatched("j3", "gone", 1, 3)}, clock.now_ns() + 5000 * kMs);
  EXPECT_EQ(d.next_wakeup_ns(), std::optional<int64_t>(clock.now_ns() + 5000 * kMs));
  EXPECT_TRUE(of_kind(d.on_worker_ready(ready("w1", 1, 4)), ActionKind::kDispatch).empty());
  clock.advance_ms(4999);
  EXPECT_TRUE(d.tick().empty());
  clock.advance_ms(1);
  Actions a = d.tick();
  auto requeued = of_kind(a, ActionKind::kRequeued);
  ASSERT_EQ(requeued.size(), 1u);
  EXPECT_EQ(requeued[0].job, "j1");
  EXPECT_EQ(requeued[0].attempt, 2u);
  auto failed = of_kind(a, ActionKind::kFail);
  ASSERT_EQ(failed.size(), 1u) << "j3 had used its 3 attempts";
  EXPECT_EQ(failed[0].reason, Reason::kMaxAttempts);
  auto sent = of_kind(a, ActionKind::kDispatch);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].job, "j1");
  EXPECT_EQ(sent[0].device, (DeviceKey{"w1", 0}));
}

TEST(DispatcherRecovery, ACancelWhileAwaitingTheWorkerIsAppliedOnAdoption) {
  rs::ManualClock clock;
  Dispatcher d(clock, options());
  d.on_recovered({dispatched("j1", "w1", 0, 1)}, clock.now_ns() + 5000 * kMs);
  EXPECT_TRUE(d.on_cancel("j1").empty());
  Actions a = d.on_worker_ready(ready("w1", 1, 2, {{"j1", 1, 0}}));
  EXPECT_EQ(of_kind(a, ActionKind::kAdopted).size(), 1u);
  EXPECT_EQ(of_kind(a, ActionKind::kCancelOnWorker).size(), 1u);
}

TEST(DispatcherRecovery, ASameBrokerReReadyKeepsTheJobsTheWorkerStillRuns) {
  rs::ManualClock clock;
  Dispatcher d(clock, options());
  d.on_worker_ready(ready("w1", 1, 2));
  ASSERT_EQ(of_kind(d.on_job_submitted(submit("a")), ActionKind::kDispatch).size(), 1u);
  ASSERT_EQ(of_kind(d.on_job_submitted(submit("b")), ActionKind::kDispatch).size(), 1u);
  // The worker reconnects listing only "a": "a" carries on, "b" (lost) is requeued.
  Actions a = d.on_worker_ready(ready("w1", 1, 2, {{"a", 1, 0}}));
  EXPECT_EQ(of_kind(a, ActionKind::kAdopted).size(), 1u);
  auto requeued = of_kind(a, ActionKind::kRequeued);
  ASSERT_EQ(requeued.size(), 1u);
  EXPECT_EQ(requeued[0].job, "b");
  EXPECT_TRUE(d.is_current("a", 1, {"w1", 0}));
}

}  // namespace
