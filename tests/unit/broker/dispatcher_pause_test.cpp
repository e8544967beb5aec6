// Dispatcher::set_dispatch_paused: nothing is dispatched while paused, queued jobs do not
// time out for the paused time, and resuming fails the jobs whose own expiry passed before
// it dispatches the rest.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rs/broker/dispatcher.h"
#include "rs/core/clock.h"

namespace {

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity

WorkerReady pause_ready(const std::string& id, uint32_t slots,
                        std::vector<std::string> models = {"m"}) {
  WorkerReady r;
  r.id = id;
  r.devices.push_back({0, slots, std::move(models)});
  return r;
}

JobSubmit pause_job(const std::string& id, int64_t expires_ns = 0) {
  JobSubmit s{id, "m", Priority::kInteractive, routing_key({"m", "", "", id}), ""};
  s.expires_ns = expires_ns;
  return s;
}

std::vector<Action> pause_of_kind(const Actions& actions, ActionKind kind) {
  std::vector<Action> out;
  for (const Action& a : actions) {
    if (a.kind == kind) out.push_back(a);
  }
  return out;
}

// Workers never expire here: only queue deadlines matter.
DispatcherOptions pause_options() {
  DispatcherOptions o;
  o.queue.max_queued = 16;
  o.queue.wait_timeout_ms = 5000;
  o.queue.model_wait_ms = 3000;
  o.workers.heartbeat_interval_ms = 1'000'000;
  return o;
}

TEST(DispatcherPause, NothingIsDispatchedWhilePausedAndResumingDispatchesInOrder) {
  rs::ManualClock clock;
  Dispatcher d(clock, pause_options());
  d.on_worker_ready(pause_ready("w1", 1));
  ASSERT_EQ(pause_of_kind(d.on_job_submitted(pause_job("running")), ActionKind::kDispatch).size(),
            1u);
  EXPECT_TRUE(d.set_dispatch_paused(true).empty());
  EXPECT_TRUE(d.dispatch_paused());
  EXPECT_TRUE(d.on_job_submitted(pause_job("a")).empty());
  EXPECT_TRUE(d.on_job_submitted(pause_job("b")).empty());
  // A freed slot and a new worker dispatch nothing; the running job ends as usual.
  EndResult end = d.on_job_ended("running", 1, {"w1", 0});
  EXPECT_TRUE(end.current);
  EXPECT_TRUE(end.actions.empty());
  EXPECT_TRUE(d.on_worker_ready(pause_ready("w2", 1)).empty());
  EXPECT_TRUE(d.tick().empty());
  EXPECT_EQ(d.queue().size(), 2u);
  // Cancelling a queued job still works while paused.
  EXPECT_TRUE(d.on_job_submitted(pause_job("c")).empty());
  Actions cancelled = d.on_cancel("c");
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].kind, ActionKind::kCancelled);
  EXPECT_TRUE(d.set_dispatch_paused(true).empty());  // pausing twice changes nothing

  Actions resumed = d.set_dispatch_paused(false);
  EXPECT_FALSE(d.dispatch_paused());
  auto dispatched = pause_of_kind(resumed, ActionKind::kDispatch);
  ASSERT_EQ(dispatched.size(), 2u);
  EXPECT_EQ(dispatched[0].job, "a");
  EXPECT_EQ(dispatched[1].job, "b");
  EXPECT_NE(dispatched[0].device, dispatched[1].device);
  EXPECT_TRUE(d.queue().empty());
}

TEST(DispatcherPause, ThePausedTimeDoesNotCountTowardTheQueueTimeout) {
  rs::ManualClock clock;
  Dispatcher d(clock, pause_options());
  d.on_worker_ready(pause_ready("w1", 1));
  d.on_job_submitted(pause_job("busy"));
  EXPECT_TRUE(d.on_job_submitted(pause_job("waiting")).empty());  // deadline: 5000 ms
  clock.advance_ms(1000);
  d.set_dispatch_paused(true);
  EXPECT_EQ(d.next_wakeup_ns(), d.workers().next_expiry_ns()) << "a queue deadline while paused";
  clock.advance_ms(20000);
  EXPECT_TRUE(d.tick().empty());
  EXPECT_TRUE(d.set_dispatch_paused(false).empty());  // no room: nothing to dispatch
  // 4000 ms of its wait are left.
  ASSERT_TRUE(d.next_wakeup_ns().has_value());
  EXPECT_EQ(*d.next_wakeup_ns(), clock.now_ns() + 4000 * 1'000'000LL);
  clock.advance_ms(3999);
  EXPECT_TRUE(d.tick().empty());
  clock.advance_ms(1);
  Actions a = d.tick();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kFail);
  EXPECT_EQ(a[0].reason, Reason::kQueueTimeout);
  EXPECT_EQ(a[0].job, "waiting");
}

TEST(DispatcherPause, ThePausedTimeDoesNotCountTowardTheModelWait) {
  rs::ManualClock clock;
  Dispatcher d(clock, pause_options());
  d.on_worker_ready(pause_ready("w1", 1, {"other"}));  // nobody serves m: model wait 3000 ms
  EXPECT_TRUE(d.on_job_submitted(pause_job("j")).empty());
  clock.advance_ms(1000);
  d.set_dispatch_paused(true);
  clock.advance_ms(10000);
  EXPECT_TRUE(d.tick().empty());
  EXPECT_TRUE(d.set_dispatch_paused(false).empty());
  clock.advance_ms(1999);
  EXPECT_TRUE(d.tick().empty());
  clock.advance_ms(1);
  Actions a = d.tick();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].reason, Reason::kModelUnavailable);
}

// A job's own expiry is the submitter's: it still holds, counted when dispatch resumes and
// before anything is dispatched, so an expired job never reaches a device.
TEST(DispatcherPause, AJobWhoseExpiryPassedWhilePausedFailsExpiredOnResume) {
  rs::ManualClock clock;
  Dispatcher d(clock, pause_options());
  d.on_worker_ready(pause_ready("w1", 1));
  d.on_job_submitted(pause_job("busy"));
  d.set_dispatch_paused(true);
  EXPECT_TRUE(d.on_job_submitted(pause_job("late", clock.now_ns() + 2000 * 1'000'000LL)).empty());
  EXPECT_TRUE(d.on_job_submitted(pause_job("next")).empty());
  EXPECT_TRUE(d.on_job_ended("busy", 1, {"w1", 0}).actions.empty());
  clock.advance_ms(3000);
  EXPECT_TRUE(d.tick().empty());
  Actions a = d.set_dispatch_paused(false);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].kind, ActionKind::kFail);
  EXPECT_EQ(a[0].reason, Reason::kExpired);
  EXPECT_EQ(a[0].job, "late");
  EXPECT_EQ(a[1].kind, ActionKind::kDispatch);
  EXPECT_EQ(a[1].job, "next");
}

// A worker lost while paused: its jobs are requeued (new attempts) and wait for the resume.
TEST(DispatcherPause, JobsOfALostWorkerAreRequeuedAndWaitForTheResume) {
  rs::ManualClock clock;
  Dispatcher d(clock, pause_options());
  d.on_worker_ready(pause_ready("w1", 1));
  d.on_worker_ready(pause_ready("w2", 1));
  auto first = pause_of_kind(d.on_job_submitted(pause_job("j")), ActionKind::kDispatch);
  ASSERT_EQ(first.size(), 1u);
  d.set_dispatch_paused(true);
  Actions lost = d.on_worker_disconnect(first[0].device.worker);
  ASSERT_EQ(pause_of_kind(lost, ActionKind::kRequeued).size(), 1u);
  EXPECT_TRUE(pause_of_kind(lost, ActionKind::kDispatch).empty());
  auto again = pause_of_kind(d.set_dispatch_paused(false), ActionKind::kDispatch);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job, "j");
  EXPECT_EQ(again[0].attempt, 2u);
  EXPECT_NE(again[0].device.worker, first[0].device.worker);
}

}  // namespace
