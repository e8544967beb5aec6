// The broker loop with model versions: a real redis-server holding the model registry,
// scripted workers advertising "tiny@1" / "tiny@2". Unpinned jobs follow the registry's
// active version (learned by polling), pinned jobs their version, DISPATCH carries the
// key, the job record the version; unknown and unserved models; heartbeat model lists;
// a dead Redis does not stop the loop.
#include <chrono>
#include <thread>

#include "broker_fixture.h"
#include "rs/store/model_registry.h"

namespace rs::broker::testing {
namespace {

template <typename F>
bool models_eventually(F&& f, int timeout_ms = 5000) {
  for (int waited = 0; waited < timeout_ms; waited += 5) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return f();
}

class BrokerModelsTest : public BrokerLoopTest {
 protected:
  void start(int64_t model_wait_ms = 300) {
    BrokerOptions o;
    o.registry_poll_ms = 20;
    o.model_wait_ms = model_wait_ms;
    start_broker_with(o);
    store::ModelRegistryOptions mr;
    mr.keys = keys_;
    registry_ = std::make_unique<store::ModelRegistry>(*conn_, mr);
  }
  uint32_t add(const std::string& name) {
    store::ModelVersion v;
    v.name = name;
    v.path = "/models/" + name + ".gguf";
    v.size_bytes = 1;
    v.sha256 = std::string(64, 'a');
    v.architecture = "llama";
    auto r = registry_->add_version(v);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : 0;
  }
  // Waits until the broker has read the registry at its current epoch.
  bool broker_caught_up() {
    auto epoch = registry_->epoch();
    if (!epoch.ok()) return false;
    return models_eventually([&] { return loop_->counters().registry_epoch.load() == *epoch; });
  }
  // Runs one job through whichever worker it is dispatched to; returns the DISPATCH and DONE.
  std::pair<sc::Dispatch, sc::Done> run_job(Peer& c, Peer& worker, const std::string& model,
                                            uint64_t request_id) {
    sc::SubmitRequest r = submit(request_id, model);
    c.send(r);
    auto accepted = c.expect<sc::Accepted>();
    auto dispatch = worker.expect<sc::Dispatch>();
    EXPECT_EQ(dispatch.job_id, accepted.job_id);
    worker.send(sc::WorkerDone{.job_id = dispatch.job_id, .attempt = dispatch.attempt,
                               .device = 0, .usage = {}, .finish_reason = "stop"});
    return {dispatch, c.expect<sc::Done>()};
  }
  std::unique_ptr<store::ModelRegistry> registry_;
};

TEST_F(BrokerModelsTest, UnpinnedFollowsTheActiveVersionPinnedStaysOnItsVersion) {
  start();
  ASSERT_EQ(add("tiny"), 1u);
  ASSERT_EQ(add("tiny"), 2u);
  ASSERT_TRUE(registry_->activate("tiny", 1).ok());
  ASSERT_TRUE(broker_caught_up());
  auto w1 = worker("w1", 2, "tiny@1");
  auto w2 = worker("w2", 2, "tiny@2");
  auto c = client("c1");

  auto [d1, done1] = run_job(*c, *w1, "tiny", 1);
  EXPECT_EQ(d1.request.model, "tiny@1");
  EXPECT_EQ(done1.record.model, "tiny");
  EXPECT_EQ(done1.record.model_version, 1u);
  auto stored = store_->load(d1.job_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->model, "tiny");
  EXPECT_EQ(stored->model_version, 1u);

  ASSERT_TRUE(registry_->activate("tiny", 2).ok());
  ASSERT_TRUE(broker_caught_up());
  auto [d2, done2] = run_job(*c, *w2, "tiny", 2);
  EXPECT_EQ(d2.request.model, "tiny@2");
  EXPECT_EQ(done2.record.model_version, 2u);
  stored = store_->load(d2.job_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->model_version, 2u);

  auto [d3, done3] = run_job(*c, *w1, "tiny@1", 3);  // pinned to the old version
  EXPECT_EQ(d3.request.model, "tiny@1");
  EXPECT_EQ(done3.record.model, "tiny");
  EXPECT_EQ(done3.record.model_version, 1u);
  c->send(sc::StatusRequest{.request_id = 4, .job_id = d3.job_id});
  EXPECT_EQ(c->expect<sc::StatusReply>().record.model_version, 1u);
}

TEST_F(BrokerModelsTest, UnknownMalformedAndUnservedModels) {
  start(/*model_wait_ms=*/200);
  ASSERT_EQ(add("big"), 1u);
  ASSERT_TRUE(registry_->activate("big", 1).ok());
  ASSERT_TRUE(broker_caught_up());
  auto w = worker("w1", 1, "tiny");
  auto c = client("c1");
  c->send(submit(1, "nope"));
  EXPECT_EQ(c->expect<sc::Rejected>().code, sc::ErrorCode::kUnknownModel);
  c->send(submit(2, "big@7"));  // the name is known, that version is not
  EXPECT_EQ(c->expect<sc::Rejected>().code, sc::ErrorCode::kUnknownModel);
  c->send(submit(3, "tiny@x"));
  EXPECT_EQ(c->expect<sc::Rejected>().code, sc::ErrorCode::kInvalidArgument);
  c->send(submit(4, "tiny@2"));  // the unversioned device does not make versions known
  EXPECT_EQ(c->expect<sc::Rejected>().code, sc::ErrorCode::kUnknownModel);
  // Registered, nobody serves it: accepted, then FAILED model_unavailable after the wait.
  c->send(submit(5, "big"));
  auto accepted = c->expect<sc::Accepted>();
  auto done = c->expect<sc::Done>();
  EXPECT_EQ(done.record.job_id, accepted.job_id);
  EXPECT_EQ(done.record.state, sc::JobState::kFailed);
  EXPECT_EQ(done.record.error_code, sc::ErrorCode::kModelUnavailable);
  EXPECT_EQ(done.record.model, "big");
  auto stored = store_->load(accepted.job_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->error_code, sc::ErrorCode::kModelUnavailable);
  // The unversioned worker still works as before.
  auto [d, ok] = run_job(*c, *w, "tiny", 6);
  EXPECT_EQ(d.request.model, "tiny");
  EXPECT_EQ(ok.record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(ok.record.model_version, 0u);
}

TEST_F(BrokerModelsTest, HeartbeatModelListsReroute) {
  start();
  ASSERT_EQ(add("tiny"), 1u);
  ASSERT_EQ(add("tiny"), 2u);
  ASSERT_TRUE(registry_->activate("tiny", 2).ok());
  ASSERT_TRUE(broker_caught_up());
  auto w1 = worker("w1", 2, "tiny@1");
  auto c = client("c1");
  auto [d1, done1] = run_job(*c, *w1, "tiny", 1);  // v2 not loaded yet: the highest served
  EXPECT_EQ(d1.request.model, "tiny@1");
  // The worker loaded v2 and dropped v1.
  w1->send(sc::WorkerHeartbeat{.worker_id = "w1",
                               .devices = {sc::DeviceLoad{.index = 0, .free_slots = 2,
                                                          .has_models = true,
                                                          .models = {"tiny@2"}}}});
  ASSERT_TRUE(models_eventually([&] {
    c->send(sc::WorkersRequest{.request_id = 9});
    auto reply = c->expect<sc::WorkersReply>();
    return reply.devices.size() == 1 && reply.devices[0].models == std::vector<std::string>{"tiny@2"};
  }));
  auto [d2, done2] = run_job(*c, *w1, "tiny", 2);
  EXPECT_EQ(d2.request.model, "tiny@2");
  EXPECT_EQ(done2.record.model_version, 2u);
  // A job the worker can no longer run (model_unavailable) is retried, not failed.
  auto w2 = worker("w2", 2, "tiny@2");
  c->send(submit(3, "tiny"));
  auto job = c->expect<sc::Accepted>().job_id;
  Peer* first = nullptr;
  Peer* other = nullptr;
  auto m = w1->recv(500);
  if (m && std::holds_alternative<sc::Dispatch>(*m)) {
    first = w1.get();
    other = w2.get();
  } else {
    first = w2.get();
    other = w1.get();
    EXPECT_EQ(w2->expect<sc::Dispatch>().job_id, job);
  }
  first->send(sc::WorkerFailed{.job_id = job, .attempt = 1, .device = 0,
                               .code = sc::ErrorCode::kModelUnavailable, .message = "unloaded"});
  auto retry = other->expect<sc::Dispatch>();
  EXPECT_EQ(retry.job_id, job);
  EXPECT_EQ(retry.attempt, 2u);
  EXPECT_EQ(retry.request.model, "tiny@2");
  other->send(sc::WorkerDone{.job_id = job, .attempt = 2, .device = 0, .usage = {}, .finish_reason = "stop"});
  auto done = c->expect<sc::Done>();
  EXPECT_EQ(done.record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(loop_->counters().retried.load(), 1u);
}

TEST_F(BrokerModelsTest, ADeadRedisDoesNotStopTheLoopAndThePollResumes) {
  start();
  ASSERT_EQ(add("tiny"), 1u);
  ASSERT_TRUE(registry_->activate("tiny", 1).ok());
  ASSERT_TRUE(broker_caught_up());
  auto c = client("c1");
  redis_.stop();
  const uint64_t errors = loop_->counters().redis_errors.load();
  ASSERT_TRUE(models_eventually([&] { return loop_->counters().redis_errors.load() > errors + 2; }));
  c->send(sc::Ping{.request_id = 1});
  EXPECT_EQ(c->expect<sc::Pong>().request_id, 1u);
  ASSERT_TRUE(redis_.start());  // empty again: a new registry
  ASSERT_TRUE(models_eventually([&] { return registry_->epoch().ok(); }));  // our connection too
  ASSERT_EQ(add("fresh"), 1u);
  ASSERT_EQ(add("fresh"), 2u);
  ASSERT_TRUE(registry_->activate("fresh", 1).ok());
  const uint64_t reads = loop_->counters().registry_reads.load();
  ASSERT_TRUE(models_eventually([&] { return loop_->counters().registry_reads.load() > reads; }));
  ASSERT_TRUE(broker_caught_up());
  // Both versions served: the active one (1), not the highest, so the broker knows it.
  auto w = worker("w1", 1, "fresh@1");
  auto w2 = worker("w2", 1, "fresh@2");
  auto [d, done] = run_job(*c, *w, "fresh", 2);
  EXPECT_EQ(d.request.model, "fresh@1");
  EXPECT_EQ(done.record.model_version, 1u);
}

}  // namespace
}  // namespace rs::broker::testing
