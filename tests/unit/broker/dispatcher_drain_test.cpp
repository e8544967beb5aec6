// Dispatcher and a draining worker (SIGTERM): its devices' heartbeats list no models. They
// leave every ring, keep the slots of the jobs they run until those end, and get no new
// DISPATCH: not on submit, not when one of their jobs ends, not when a retried job is
// requeued, not after a re-READY that lists no models.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rs/broker/dispatcher.h"
#include "rs/core/clock.h"

namespace {

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity

WorkerReady drain_ready(const std::string& id, uint32_t slots, std::vector<std::string> models,
                        std::vector<ClaimedJob> jobs = {}) {
  WorkerReady r;
  r.id = id;
  r.devices.push_back({0, slots, std::move(models)});
  r.jobs = std::move(jobs);
  return r;
}

JobSubmit drain_submit(const std::string& id) {
  return {id, "tiny", Priority::kInteractive, routing_key({"tiny", "", "", id}), ""};
}

DispatcherOptions drain_options() {
  DispatcherOptions o;
  o.queue.max_queued = 100;
  o.queue.wait_timeout_ms = 30000;
  o.queue.model_wait_ms = 2000;
  o.workers.heartbeat_interval_ms = 100000;  // nobody expires in these tests
  o.router.interactive_reserve = 4;
  o.max_attempts = 3;
  return o;
}

// No action of the list sends a job to `worker`.
void expect_nothing_sent_to(const Actions& actions, const std::string& worker) {
  for (const Action& a : actions) {
    if (a.kind == ActionKind::kDispatch) EXPECT_NE(a.device.worker, worker) << a.job;
  }
}

TEST(DispatcherDrain, ADeviceListingNoModelsKeepsItsJobsAndTakesNoNewOnes) {
  rs::ManualClock clock;
  Dispatcher d(clock, drain_options());
  d.on_worker_ready(drain_ready("w1", 2, {"tiny"}));
  ASSERT_EQ(d.on_job_submitted(drain_submit("j1")).size(), 1u);
  ASSERT_EQ(d.on_job_submitted(drain_submit("j2")).size(), 1u);
  d.on_worker_ready(drain_ready("w2", 2, {"tiny"}));

  // w1 drains: its heartbeat lists no models. Its running jobs keep their slots.
  EXPECT_TRUE(d.on_device_models({"w1", 0}, {}).empty());
  EXPECT_TRUE(d.router().serves("tiny"));  // through w2
  EXPECT_EQ(d.workers().in_flight({"w1", 0}), 2u);
  EXPECT_TRUE(d.is_current("j1", 1, {"w1", 0}));
  EXPECT_TRUE(d.is_current("j2", 1, {"w1", 0}));

  // New jobs go to w2 only; once it is full (the reserve too: every job is interactive)
  // they wait.
  for (const char* id : {"j3", "j4"}) {
    Actions a = d.on_job_submitted(drain_submit(id));
    ASSERT_EQ(a.size(), 1u) << id;
    EXPECT_EQ(a[0].device.worker, "w2") << id;
  }
  EXPECT_TRUE(d.on_job_submitted(drain_submit("j5")).empty());
  EXPECT_EQ(d.queue().size("tiny"), 1u);

  // A job ending on w1 frees its slot, but w1 takes nothing from the queue.
  EndResult ended = d.on_job_ended("j1", 1, {"w1", 0});
  EXPECT_TRUE(ended.current);
  expect_nothing_sent_to(ended.actions, "w1");
  EXPECT_EQ(d.queue().size("tiny"), 1u);
  EXPECT_TRUE(d.on_device_free({"w1", 0}).empty());

  // A job w1 hands back is requeued at the front, and waits for w2 too.
  EndResult retried = d.on_job_retry("j2", 1, {"w1", 0});
  EXPECT_TRUE(retried.current);
  expect_nothing_sent_to(retried.actions, "w1");
  EXPECT_EQ(d.workers().in_flight({"w1", 0}), 0u);
  EXPECT_EQ(d.queue().size("tiny"), 2u);

  // w2 frees a slot: the handed-back job (front of the queue) goes there, attempt 2.
  EndResult freed = d.on_job_ended("j3", 1, {"w2", 0});
  ASSERT_EQ(freed.actions.size(), 1u);
  EXPECT_EQ(freed.actions[0].kind, ActionKind::kDispatch);
  EXPECT_EQ(freed.actions[0].job, "j2");
  EXPECT_EQ(freed.actions[0].device.worker, "w2");
  EXPECT_EQ(freed.actions[0].attempt, 2u);

  // w1 says goodbye: it held nothing, so nothing is requeued.
  Actions bye = d.on_worker_disconnect("w1");
  for (const Action& a : bye) EXPECT_NE(a.kind, ActionKind::kRequeued) << a.job;
  EXPECT_EQ(d.queue().size("tiny"), 1u);
}

TEST(DispatcherDrain, AReadyListingNoModelsAdoptsItsJobsAndRoutesNothingThere) {
  rs::ManualClock clock;
  Dispatcher d(clock, drain_options());
  d.on_worker_ready(drain_ready("w1", 2, {"tiny"}));
  ASSERT_EQ(d.on_job_submitted(drain_submit("j1")).size(), 1u);
  // The draining worker's link dropped and came back: READY lists its job and no models.
  Actions a = d.on_worker_ready(drain_ready("w1", 2, {}, {{"j1", 1, 0}}));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kAdopted);
  EXPECT_FALSE(d.router().serves("tiny"));
  EXPECT_EQ(d.workers().in_flight({"w1", 0}), 1u);
  EXPECT_TRUE(d.on_job_submitted(drain_submit("j2")).empty());  // waits for a device
  EXPECT_TRUE(d.on_job_ended("j1", 1, {"w1", 0}).actions.empty());
  EXPECT_EQ(d.queue().size("tiny"), 1u);
}

}  // namespace
