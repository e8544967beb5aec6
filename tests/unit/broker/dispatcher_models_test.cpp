// Dispatcher with model versions: keys resolved at dispatch, heartbeat model lists that
// re-route, drain-and-swap, the model wait, pinned queues, model_unavailable retries.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rs/broker/dispatcher.h"
#include "rs/core/clock.h"

namespace {

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity

WorkerReady models_ready(const std::string& id, uint32_t slots, std::vector<std::string> models) {
  WorkerReady r;
  r.id = id;
  r.devices.push_back({0, slots, std::move(models)});
  return r;
}

JobSubmit models_submit(const std::string& id, const std::string& model = "tiny",
                 const std::string& session = {}) {
  return {id, model, Priority::kInteractive, routing_key({model, "", session, id}), session};
}

std::vector<Action> models_of_kind(const Actions& actions, ActionKind kind) {
  std::vector<Action> out;
  for (const Action& a : actions) {
    if (a.kind == kind) out.push_back(a);
  }
  return out;
}

RegistryModel models_tiny(uint32_t active) {
  return RegistryModel{.name = "tiny", .active = active, .versions = {1, 2}};
}

DispatcherOptions models_options() {
  DispatcherOptions o;
  o.queue.max_queued = 100;
  o.queue.wait_timeout_ms = 30000;
  o.queue.model_wait_ms = 2000;
  o.workers.heartbeat_interval_ms = 100000;  // nobody expires in these tests
  o.max_attempts = 3;
  return o;
}

TEST(DispatcherModels, UnpinnedJobGoesToTheActiveVersionWithItsKey) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_registry({models_tiny(1)});
  d.on_worker_ready(models_ready("w1", 4, {"tiny@1"}));
  d.on_worker_ready(models_ready("w2", 4, {"tiny@2"}));
  Actions a = d.on_job_submitted(models_submit("j1"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kDispatch);
  EXPECT_EQ(a[0].device.worker, "w1");
  EXPECT_EQ(a[0].model_key, "tiny@1");
  EXPECT_EQ(a[0].model_version, 1u);
  a = d.on_registry({models_tiny(2)});
  EXPECT_TRUE(a.empty());
  a = d.on_job_submitted(models_submit("j2"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].device.worker, "w2");
  EXPECT_EQ(a[0].model_key, "tiny@2");
  a = d.on_job_submitted(models_submit("j3", "tiny@1"));  // pinned
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].device.worker, "w1");
  EXPECT_EQ(a[0].model_key, "tiny@1");
}

TEST(DispatcherModels, UnversionedWorkersKeepTheOldBehaviour) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_worker_ready(models_ready("w1", 1, {"tiny"}));
  Actions a = d.on_job_submitted(models_submit("j1"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].model_key, "tiny");
  EXPECT_EQ(a[0].model_version, 0u);
}

TEST(DispatcherModels, HeartbeatModelListReroutesNewJobs) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_registry({models_tiny(2)});
  d.on_worker_ready(models_ready("w1", 4, {"tiny@1"}));
  Actions a = d.on_job_submitted(models_submit("j1"));  // active 2 not loaded: the highest served
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].model_key, "tiny@1");
  // v2 loaded: the device lists both.
  EXPECT_TRUE(d.on_device_models({"w1", 0}, {"tiny@1", "tiny@2"}).empty());
  EXPECT_TRUE(d.router().serves("tiny@2"));
  a = d.on_job_submitted(models_submit("j2"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].model_key, "tiny@2");
  // v1 no longer wanted: it stops listing it. j1 still finishes normally.
  EXPECT_TRUE(d.on_device_models({"w1", 0}, {"tiny@2"}).empty());
  EXPECT_FALSE(d.router().serves("tiny@1"));
  EXPECT_FALSE(d.catalog().serves("tiny@1"));
  EXPECT_EQ(d.workers().device({"w1", 0})->models, (std::vector<std::string>{"tiny@2"}));
  EXPECT_TRUE(d.is_current("j1", 1, {"w1", 0}));
  EXPECT_TRUE(d.on_job_ended("j1", 1, {"w1", 0}).current);
  // A pinned job for v1 now waits.
  EXPECT_TRUE(d.on_job_submitted(models_submit("j3", "tiny@1")).empty());
  EXPECT_EQ(d.queue().size("tiny@1"), 1u);
}

TEST(DispatcherModels, DrainAndSwapRoutesAroundTheDrainingDevice) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_registry({models_tiny(1)});
  d.on_worker_ready(models_ready("w1", 2, {"tiny@1"}));
  d.on_worker_ready(models_ready("w2", 2, {"tiny@1"}));
  // w1 starts a memory-constrained swap: it lists nothing for tiny while it drains.
  EXPECT_TRUE(d.on_device_models({"w1", 0}, {}).empty());
  for (int i = 0; i < 2; ++i) {
    Actions a = d.on_job_submitted(models_submit("j" + std::to_string(i)));
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].device.worker, "w2");
  }
  // w2 full: the next jobs wait instead of going to w1.
  EXPECT_TRUE(d.on_job_submitted(models_submit("j2")).empty());
  EXPECT_TRUE(d.on_job_submitted(models_submit("j3")).empty());
  EXPECT_TRUE(d.on_device_free({"w1", 0}).empty());
  // Registry activates 2; w1 comes back with it and takes the waiting jobs.
  d.on_registry({models_tiny(2)});
  Actions a = d.on_device_models({"w1", 0}, {"tiny@2"});
  auto dispatched = models_of_kind(a, ActionKind::kDispatch);
  ASSERT_EQ(dispatched.size(), 2u);
  for (const Action& x : dispatched) {
    EXPECT_EQ(x.device.worker, "w1");
    EXPECT_EQ(x.model_key, "tiny@2");
  }
}

TEST(DispatcherModels, ModelUnavailableAfterTheWait) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_registry({models_tiny(2)});
  EXPECT_TRUE(d.on_job_submitted(models_submit("j1")).empty());
  EXPECT_EQ(*d.next_wakeup_ns(), clock.now_ns() + 2'000'000'000);
  clock.advance_ms(1999);
  EXPECT_TRUE(d.tick().empty());
  clock.advance_ms(1);
  Actions a = d.tick();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, ActionKind::kFail);
  EXPECT_EQ(a[0].reason, Reason::kModelUnavailable);
  EXPECT_EQ(d.live_jobs(), 0u);
  EXPECT_EQ(d.queue().size(), 0u);
}

TEST(DispatcherModels, ADeviceArrivingWithinTheWaitTakesTheJob) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_registry({models_tiny(2)});
  EXPECT_TRUE(d.on_job_submitted(models_submit("j1", "tiny@2")).empty());
  clock.advance_ms(1500);
  Actions a = d.on_worker_ready(models_ready("w1", 0, {"tiny@2"}));  // served, but no slot yet
  EXPECT_TRUE(a.empty());
  clock.advance_ms(1000);
  EXPECT_TRUE(d.tick().empty());  // served but busy: only the queue timeout applies
  a = d.on_slots_changed({"w1", 0}, 1);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].model_key, "tiny@2");
}

TEST(DispatcherModels, TheWaitStartsWhenTheLastDeviceGoes) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_worker_ready(models_ready("w1", 0, {"tiny@1"}));
  EXPECT_TRUE(d.on_job_submitted(models_submit("j1")).empty());
  clock.advance_ms(5000);  // waited 5 s while served (busy): fine
  EXPECT_TRUE(d.tick().empty());
  d.on_device_models({"w1", 0}, {});  // now nobody serves tiny
  clock.advance_ms(1999);
  EXPECT_TRUE(d.tick().empty());
  clock.advance_ms(1);
  Actions a = d.tick();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].reason, Reason::kModelUnavailable);
}

TEST(DispatcherModels, AFreedDeviceDrainsItsPinnedAndItsNamesQueues) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_registry({models_tiny(2)});
  d.on_worker_ready(models_ready("w1", 1, {"tiny@2"}));
  ASSERT_EQ(d.on_job_submitted(models_submit("j1")).size(), 1u);
  EXPECT_TRUE(d.on_job_submitted(models_submit("p1", "tiny@2")).empty());
  EXPECT_TRUE(d.on_job_submitted(models_submit("u1")).empty());
  EndResult r = d.on_job_ended("j1", 1, {"w1", 0});
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].job, "p1");  // the pinned queue first
  r = d.on_job_ended("p1", 1, {"w1", 0});
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].job, "u1");
  EXPECT_EQ(r.actions[0].model_key, "tiny@2");
}

TEST(DispatcherModels, ABusyVersionDoesNotBlockAnotherVersionsJobs) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_registry({models_tiny(2)});
  d.on_worker_ready(models_ready("w1", 1, {"tiny@1"}));
  d.on_worker_ready(models_ready("w2", 1, {"tiny@2"}));
  // Session s started on v1 (pinned jobs do not record sessions; an unpinned one does).
  d.on_registry({models_tiny(1)});
  ASSERT_EQ(d.on_job_submitted(models_submit("s-a", "tiny", "s")).size(), 1u);  // v1, w1 now full
  d.on_registry({models_tiny(2)});
  ASSERT_EQ(d.on_job_submitted(models_submit("x", "tiny")).size(), 1u);  // v2, w2 now full
  EXPECT_TRUE(d.on_job_submitted(models_submit("s-b", "tiny", "s")).empty());  // waits for v1
  EXPECT_TRUE(d.on_job_submitted(models_submit("y", "tiny")).empty());         // waits for v2
  // v2 frees up: y goes even though s-b (v1) is ahead of it.
  EndResult r = d.on_job_ended("x", 1, {"w2", 0});
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].job, "y");
  EXPECT_EQ(r.actions[0].model_key, "tiny@2");
  r = d.on_job_ended("s-a", 1, {"w1", 0});
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].job, "s-b");
  EXPECT_EQ(r.actions[0].model_key, "tiny@1");  // the session stays on v1
}

TEST(DispatcherModels, ModelUnavailableFromTheWorkerRetriesElsewhere) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_registry({models_tiny(1)});
  d.on_worker_ready(models_ready("w1", 1, {"tiny@1"}));
  Actions a = d.on_job_submitted(models_submit("j1"));
  ASSERT_EQ(a.size(), 1u);
  d.on_worker_ready(models_ready("w2", 1, {"tiny@1"}));
  EndResult r = d.on_job_retry("j1", 1, {"w1", 0}, /*model_gone=*/true);
  ASSERT_TRUE(r.current);
  auto requeued = models_of_kind(r.actions, ActionKind::kRequeued);
  auto dispatched = models_of_kind(r.actions, ActionKind::kDispatch);
  ASSERT_EQ(requeued.size(), 1u);
  ASSERT_EQ(dispatched.size(), 1u);
  EXPECT_EQ(dispatched[0].device.worker, "w2");
  EXPECT_EQ(dispatched[0].attempt, 2u);
  EXPECT_FALSE(d.router().ring("tiny@1")->contains({"w1", 0}));
  // The next heartbeat that lists the key again puts the device back.
  d.on_device_models({"w1", 0}, {"tiny@1"});
  EXPECT_TRUE(d.router().ring("tiny@1")->contains({"w1", 0}));
}

TEST(DispatcherModels, WorkerLossUnservesItsKeys) {
  rs::ManualClock clock;
  Dispatcher d(clock, models_options());
  d.on_worker_ready(models_ready("w1", 1, {"tiny@1", "tiny@2"}));
  EXPECT_TRUE(d.catalog().serves("tiny@2"));
  d.on_worker_disconnect("w1");
  EXPECT_FALSE(d.catalog().serves("tiny@1"));
  EXPECT_FALSE(d.catalog().serves("tiny@2"));
  EXPECT_FALSE(d.router().serves("tiny@1"));
  EXPECT_TRUE(d.catalog().knows("tiny", 2));
}

}  // namespace
