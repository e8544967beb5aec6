#include "rs/broker/dispatcher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rs/core/clock.h"

namespace {

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity

WorkerReady disp_ready(const std::string& id, uint32_t n_devices, uint32_t slots,
                  std::vector<std::string> models = {"m"}) {
  WorkerReady r;
  r.id = id;
  for (uint32_t i = 0; i < n_devices; ++i) r.devices.push_back({i, slots, models});
  return r;
}

JobSubmit disp_submit(const std::string& id, const std::string& model = "m",
                 Priority p = Priority::kInteractive) {
  return {id, model, p, routing_key({model, "", "", id}), ""};
}

std::vector<Action> disp_of_kind(const Actions& actions, ActionKind kind) {
  std::vector<Action> out;
  for (const Action& a : actions) {
    if (a.kind == kind) out.push_back(a);
  }
  return out;
}

DispatcherOptions small_options() {
  DispatcherOptions o;
  o.queue.max_queued = 4;
  o.queue.wait_timeout_ms = 5000;
  o.workers.heartbeat_interval_ms = 1000;
  o.workers.missed_beats = 3;
  o.max_attempts = 2;
  return o;
}

TEST(Dispatcher, DispatchesAtOnceWhenADeviceIsFree) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  EXPECT_TRUE(d.on_worker_ready(disp_ready("w1", 1, 2)).empty());
  Actions a = d.on_job_submitted(disp_submit("j1"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kDispatch);
  EXPECT_EQ(a[0].job, "j1");
  EXPECT_EQ(a[0].device, (DeviceKey{"w1", 0}));
  EXPECT_EQ(a[0].attempt, 1u);
  EXPECT_TRUE(d.is_current("j1", 1, {"w1", 0}));
}

TEST(Dispatcher, QueuesUntilAWorkerArrives) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  EXPECT_TRUE(d.on_job_submitted(disp_submit("j1")).empty());
  EXPECT_TRUE(d.on_job_submitted(disp_submit("j2")).empty());
  EXPECT_EQ(d.queue().size(), 2u);
  Actions a = d.on_worker_ready(disp_ready("w1", 1, 1));
  ASSERT_EQ(a.size(), 1u);  // one slot: one job goes, one waits
  EXPECT_EQ(a[0].job, "j1");
  EXPECT_EQ(d.queue().size(), 1u);
}

TEST(Dispatcher, RejectsWhenQueueFullOrDuplicate) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(d.on_job_submitted(disp_submit(std::to_string(i))).empty());
  Actions a = d.on_job_submitted(disp_submit("x"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kReject);
  EXPECT_EQ(a[0].reason, Reason::kQueueFull);
  a = d.on_job_submitted(disp_submit("1"));
  EXPECT_EQ(a[0].reason, Reason::kDuplicateJob);
  EXPECT_EQ(d.live_jobs(), 4u);
}

TEST(Dispatcher, JobEndRefillsTheDeviceInPriorityOrder) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  d.on_worker_ready(disp_ready("w1", 1, 1));
  d.on_job_submitted(disp_submit("run"));
  d.on_job_submitted(disp_submit("batch", "m", Priority::kBatch));
  d.on_job_submitted(disp_submit("inter"));
  EXPECT_FALSE(d.on_job_ended("run", 2, {"w1", 0}).current);  // wrong attempt
  EXPECT_FALSE(d.on_job_ended("run", 1, {"w9", 0}).current);  // wrong device
  EndResult r = d.on_job_ended("run", 1, {"w1", 0});
  EXPECT_TRUE(r.current);
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].job, "inter");
  EXPECT_FALSE(d.on_job_ended("run", 1, {"w1", 0}).current);  // ends once
  r = d.on_job_ended("inter", 1, {"w1", 0});
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].job, "batch");
}

TEST(Dispatcher, SilentWorkerExpiresOnTick) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  d.on_worker_ready(disp_ready("w1", 1, 4));
  d.on_job_submitted(disp_submit("a"));
  d.on_job_submitted(disp_submit("b"));
  d.on_worker_ready(disp_ready("w2", 1, 4));
  clock.advance_ms(2000);
  d.on_worker_message("w2");
  clock.advance_ms(1001);
  Actions a = d.tick();
  ASSERT_EQ(disp_of_kind(a, ActionKind::kWorkerLost).size(), 1u);
  EXPECT_EQ(disp_of_kind(a, ActionKind::kWorkerLost)[0].device.worker, "w1");
  auto requeued = disp_of_kind(a, ActionKind::kRequeued);
  auto dispatched = disp_of_kind(a, ActionKind::kDispatch);
  ASSERT_EQ(requeued.size(), 2u);
  ASSERT_EQ(dispatched.size(), 2u);
  EXPECT_EQ(dispatched[0].job, "a");  // the older job first
  for (const Action& x : dispatched) {
    EXPECT_EQ(x.device.worker, "w2");
    EXPECT_EQ(x.attempt, 2u);
    EXPECT_FALSE(d.is_current(x.job, 1, {"w1", 0}));  // the lost worker is fenced off
    EXPECT_TRUE(d.is_current(x.job, 2, x.device));
  }
  EXPECT_FALSE(d.on_worker_message("w1"));  // it must READY again
}

TEST(Dispatcher, MaxAttemptsFailsTheJob) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());  // max_attempts = 2
  d.on_worker_ready(disp_ready("w1", 1, 1));
  d.on_job_submitted(disp_submit("j"));
  Actions a = d.on_worker_disconnect("w1");
  EXPECT_EQ(disp_of_kind(a, ActionKind::kRequeued).size(), 1u);
  a = d.on_worker_ready(disp_ready("w2", 1, 1));
  ASSERT_EQ(disp_of_kind(a, ActionKind::kDispatch).size(), 1u);
  EXPECT_EQ(a[0].attempt, 2u);
  a = d.on_worker_disconnect("w2");
  auto failed = disp_of_kind(a, ActionKind::kFail);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].reason, Reason::kMaxAttempts);
  EXPECT_EQ(d.live_jobs(), 0u);
  EXPECT_TRUE(d.queue().empty());
}

TEST(Dispatcher, RestartedWorkerGetsItsJobsBackAsNewAttempts) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  d.on_worker_ready(disp_ready("w1", 1, 1));
  d.on_job_submitted(disp_submit("j"));
  Actions a = d.on_worker_ready(disp_ready("w1", 1, 1));  // same id, READY again
  ASSERT_EQ(disp_of_kind(a, ActionKind::kDispatch).size(), 1u);
  EXPECT_EQ(disp_of_kind(a, ActionKind::kDispatch)[0].attempt, 2u);
  EXPECT_EQ(d.workers().in_flight({"w1", 0}), 1u);
}

TEST(Dispatcher, CancelQueuedAndRunning) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  d.on_worker_ready(disp_ready("w1", 1, 1));
  d.on_job_submitted(disp_submit("run"));
  d.on_job_submitted(disp_submit("wait"));
  Actions a = d.on_cancel("wait");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kCancelled);
  a = d.on_cancel("run");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kCancelOnWorker);
  EXPECT_EQ(a[0].device, (DeviceKey{"w1", 0}));
  EXPECT_TRUE(d.on_cancel("nothing").empty());
  EXPECT_TRUE(d.on_job_ended("run", 1, {"w1", 0}).current);  // the worker's CANCELLED
  EXPECT_EQ(d.live_jobs(), 0u);
}

TEST(Dispatcher, CancelledJobIsNotRequeuedWhenItsWorkerDies) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  d.on_worker_ready(disp_ready("w1", 1, 1));
  d.on_job_submitted(disp_submit("j"));
  d.on_cancel("j");
  Actions a = d.on_worker_disconnect("w1");
  EXPECT_EQ(disp_of_kind(a, ActionKind::kCancelled).size(), 1u);
  EXPECT_TRUE(disp_of_kind(a, ActionKind::kRequeued).empty());
  EXPECT_EQ(d.live_jobs(), 0u);
}

// Its queue deadline (5 s) comes before the model wait (10 s): still model_unavailable.
TEST(Dispatcher, JobsForAnUnservedModelFailModelUnavailable) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  d.on_worker_ready(disp_ready("w1", 1, 1, {"other"}));
  d.on_job_submitted(disp_submit("j", "m"));
  // The worker's expiry (3 s) comes before the job's deadline (5 s).
  EXPECT_EQ(*d.next_wakeup_ns(), *d.workers().next_expiry_ns());
  EXPECT_LT(*d.next_wakeup_ns(), *d.queue().next_deadline_ns());
  clock.advance_ms(4999);
  d.on_worker_message("w1");
  EXPECT_TRUE(d.tick().empty());
  clock.advance_ms(1);
  Actions a = d.tick();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kFail);
  EXPECT_EQ(a[0].reason, Reason::kModelUnavailable);
  EXPECT_NE(a[0].detail.find("no device serves"), std::string::npos);
  EXPECT_EQ(d.live_jobs(), 0u);
}

TEST(Dispatcher, SlotsChangedRefills) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());
  d.on_worker_ready(disp_ready("w1", 1, 0));
  d.on_job_submitted(disp_submit("j"));
  EXPECT_TRUE(d.on_device_free({"w1", 0}).empty());
  Actions a = d.on_slots_changed({"w1", 0}, 1);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kDispatch);
}

TEST(Dispatcher, RetryRequeuesAtTheFrontWithTheNextAttemptThenFails) {
  rs::ManualClock clock;
  Dispatcher d(clock, small_options());  // max_attempts 2
  d.on_worker_ready(disp_ready("w1", 1, 1));
  d.on_job_submitted(disp_submit("j1"));
  d.on_job_submitted(disp_submit("j2"));  // queued behind j1
  EXPECT_FALSE(d.on_job_retry("j1", 2, {"w1", 0}).current);  // wrong attempt: stale
  EndResult r = d.on_job_retry("j1", 1, {"w1", 0});
  ASSERT_TRUE(r.current);
  ASSERT_EQ(disp_of_kind(r.actions, ActionKind::kRequeued).size(), 1u);
  EXPECT_EQ(disp_of_kind(r.actions, ActionKind::kRequeued)[0].attempt, 2u);
  auto dispatched = disp_of_kind(r.actions, ActionKind::kDispatch);
  ASSERT_EQ(dispatched.size(), 1u);  // the freed slot goes to j1 again, ahead of j2
  EXPECT_EQ(dispatched[0].job, "j1");
  EXPECT_EQ(dispatched[0].attempt, 2u);
  r = d.on_job_retry("j1", 2, {"w1", 0});
  ASSERT_TRUE(r.current);
  auto failed = disp_of_kind(r.actions, ActionKind::kFail);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].reason, Reason::kMaxAttempts);
  ASSERT_EQ(disp_of_kind(r.actions, ActionKind::kDispatch).size(), 1u);
  EXPECT_EQ(disp_of_kind(r.actions, ActionKind::kDispatch)[0].job, "j2");
  EXPECT_EQ(d.workers().in_flight({"w1", 0}), 1u);
}

TEST(Dispatcher, NamesForLogs) {
  EXPECT_EQ(action_kind_name(ActionKind::kCancelOnWorker), "cancel_on_worker");
  EXPECT_EQ(reason_name(Reason::kQueueFull), "queue_full");
}

}  // namespace
