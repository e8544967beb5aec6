// WorkerLoop drain (SIGTERM / SIGINT -> request_drain()) against a scripted broker (a bare
// ROUTER): the worker advertises no models at once (heartbeat and any READY), refuses a new
// DISPATCH with WORKER_FAILED draining, lets a running job finish with WORKER_DONE, hands a
// job still running at the grace deadline back (WORKER_FAILED draining, after its tokens),
// then sends WORKER_DISCONNECT and run() returns ok. Engine progress is gated per device by
// a step budget, so every check is causal.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <set>
#include <thread>

#include "fake_broker_router.h"
#include "rs/worker/io/worker_loop.h"
#include "worker_fixture.h"

namespace rs::worker::io::testing {
namespace {

constexpr const char* kDrainWorkerId = "w-drain";
constexpr int kOpen = 1 << 30;

// Each device may take steps_left[d] more engine steps; at 0 its engine thread waits.
struct StepBudget {
  std::array<std::atomic<int>, 2> steps_left{};
  void before_step(int d) {
    while (steps_left[static_cast<size_t>(d)].load() <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    steps_left[static_cast<size_t>(d)].fetch_sub(1);
  }
};

class WorkerDrainTest : public ScriptedBrokerTest {
 protected:
  WorkerDrainTest() : ScriptedBrokerTest(kDrainWorkerId) {}
  void SetUp() override { load_model(); }
  void TearDown() override {
    for (auto& s : gate_.steps_left) s.store(kOpen);
    ScriptedBrokerTest::TearDown();
  }
  // Long liveness (10 x 2 s): an engine held at its gate must not look stalled, and this
  // broker sends no heartbeats.
  void start(int64_t grace_ms) {
    WorkerOptions o = worker_options(2, 2000);
    o.before_step = [this](int d) { gate_.before_step(d); };
    o.missed_beats = 10;
    o.grace_ms = grace_ms;
    ASSERT_NO_FATAL_FAILURE(start_worker(std::move(o)));
    ASSERT_TRUE(broker_.accept_ready().has_value());
    ASSERT_TRUE(wait_until([this] { return worker_->registered(); }));
    auto first = broker_.next<sc::WorkerHeartbeat>();  // right behind the acknowledgement
    ASSERT_TRUE(first.has_value());
    ASSERT_EQ(first->devices.size(), 2u);
    EXPECT_EQ(first->devices[0].models, std::vector<std::string>{"tiny"});
  }
  static sc::Dispatch dispatch(const std::string& job, int32_t device, uint32_t max_tokens) {
    sc::Dispatch d = ScriptedBrokerTest::dispatch(job, device, max_tokens);
    d.request.sampling.temperature = 0.0f;
    return d;
  }
  // The long job runs until its device's budget of steps is spent.
  void start_jobs(int long_job_steps) {
    gate_.steps_left[1].store(long_job_steps);
    broker_.send(dispatch("j-short", 0, 4));
    broker_.send(dispatch("j-long", 1, 200));
    ASSERT_TRUE(wait_until([this] { return worker_->counters().dispatches.load() == 2; }));
  }
  // The first heartbeat listing no models (ones sent before the drain began list "tiny").
  std::optional<sc::WorkerHeartbeat> drain_heartbeat() {
    for (int i = 0; i < 10; ++i) {
      auto beat = broker_.next<sc::WorkerHeartbeat>();
      if (!beat || beat->devices.empty() || beat->devices[0].models.empty()) return beat;
    }
    return std::nullopt;
  }
  void expect_run_returns_ok() {
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_.to_string();
  }

  StepBudget gate_;
};

void expect_no_models(const std::vector<sc::DeviceLoad>& devices) {
  ASSERT_EQ(devices.size(), 2u);
  for (const sc::DeviceLoad& d : devices) {
    EXPECT_TRUE(d.has_models) << "device " << d.index;
    EXPECT_TRUE(d.models.empty()) << "device " << d.index;
    EXPECT_TRUE(d.no_chat.empty()) << "device " << d.index;
  }
}

// The position of the first message of type T for `job` (messages.size(): none).
template <typename T>
size_t index_of(const std::vector<sc::Message>& messages, const std::string& job) {
  for (size_t i = 0; i < messages.size(); ++i) {
    if (auto* m = std::get_if<T>(&messages[i]); m != nullptr && m->job_id == job) return i;
  }
  return messages.size();
}
// The position of the last WORKER_TOKENS carrying a token of `job`, and how many it had.
size_t last_token_index(const std::vector<sc::Message>& messages, const std::string& job,
                        size_t* n_tokens) {
  size_t last = 0;
  *n_tokens = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (auto* t = std::get_if<sc::WorkerTokens>(&messages[i])) {
      for (const auto& e : t->entries) {
        if (e.job_id != job) continue;
        last = i;
        ++*n_tokens;
      }
    }
  }
  return last;
}

TEST_F(WorkerDrainTest, RefusesNewJobsFinishesRunningOnesAndHandsBackTheRestAtTheDeadline) {
  start(/*grace_ms=*/60000);  // the grace ends on the second request below
  start_jobs(/*long_job_steps=*/3);
  worker_->request_drain();

  // At once: a heartbeat listing no models (the broker stops routing here).
  auto beat = drain_heartbeat();
  ASSERT_TRUE(beat.has_value());
  expect_no_models(beat->devices);
  EXPECT_TRUE(worker_->draining());
  EXPECT_TRUE(worker_->advertised_keys().empty());

  // A DISPATCH sent before the broker saw it: refused, never run.
  broker_.send(dispatch("j-new", 0, 4));
  auto refused = broker_.next<sc::WorkerFailed>();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->job_id, "j-new");
  EXPECT_EQ(refused->code, sc::ErrorCode::kDraining) << refused->message;
  EXPECT_EQ(worker_->counters().dispatches.load(), 2u);

  // A re-READY while draining (a broker restart) lists the jobs held and no models.
  broker_.send(sc::BrokerDisconnect{.reason = "unknown worker: send READY"});
  auto ready = broker_.next<sc::WorkerReady>();
  ASSERT_TRUE(ready.has_value());
  ASSERT_EQ(ready->devices.size(), 2u);
  for (const auto& d : ready->devices) EXPECT_TRUE(d.models.empty());
  std::set<std::string> held;
  for (const auto& j : ready->jobs) held.insert(j.job_id);
  EXPECT_EQ(held, (std::set<std::string>{"j-short", "j-long"}));
  broker_.send(sc::BrokerHeartbeat{.broker_time_ms = 2});
  ASSERT_TRUE(wait_until([this] { return worker_->registered(); }));

  // The short job, held at the gate until now, runs to its end within the grace.
  gate_.steps_left[0].store(kOpen);
  auto done = broker_.next<sc::WorkerDone>();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->job_id, "j-short");
  EXPECT_EQ(done->attempt, 1u);
  EXPECT_NE(done->finish_reason, "cancelled");

  // The grace ends (a second SIGTERM): the long job, stuck at its gate, is cancelled and
  // handed back once its engine confirms; then the worker says goodbye.
  worker_->request_drain();
  ASSERT_TRUE(wait_until([this] { return worker_->counters().handed_back.load() == 1; }));
  gate_.steps_left[1].store(kOpen);
  std::vector<sc::Message> rest = broker_.until<sc::WorkerDisconnect>(10000);
  const size_t failed_at = index_of<sc::WorkerFailed>(rest, "j-long");
  ASSERT_LT(failed_at, rest.size()) << "no WORKER_FAILED for the long job";
  const auto& failed = std::get<sc::WorkerFailed>(rest[failed_at]);
  EXPECT_EQ(failed.code, sc::ErrorCode::kDraining) << failed.message;
  EXPECT_EQ(failed.attempt, 1u);
  EXPECT_EQ(failed.device, 1);
  EXPECT_EQ(index_of<sc::WorkerDone>(rest, "j-long"), rest.size()) << "handed back, not done";
  size_t n_tokens = 0;
  const size_t last_token = last_token_index(rest, "j-long", &n_tokens);
  if (n_tokens > 0) {
    EXPECT_LT(last_token, failed_at) << "every token goes out before the end";
  }
  for (size_t i = failed_at + 1; i + 1 < rest.size(); ++i) {
    EXPECT_TRUE(std::holds_alternative<sc::WorkerHeartbeat>(rest[i]))
        << "message " << i << " between the hand-back and the goodbye";
  }
  expect_run_returns_ok();
}

TEST_F(WorkerDrainTest, TheGracePeriodEndsOnItsOwn) {
  start(/*grace_ms=*/200);
  gate_.steps_left[0].store(kOpen);  // the short job runs freely (it may end before the drain)
  start_jobs(/*long_job_steps=*/2);
  worker_->request_drain();
  // No second request: the deadline alone hands the long job back.
  ASSERT_TRUE(wait_until([this] { return worker_->counters().handed_back.load() == 1; }, 10000));
  gate_.steps_left[1].store(kOpen);
  std::vector<sc::Message> all = broker_.until<sc::WorkerDisconnect>(10000);
  bool announced = false;
  for (const sc::Message& m : all) {
    if (auto* beat = std::get_if<sc::WorkerHeartbeat>(&m);
        beat && beat->devices[0].models.empty()) {
      expect_no_models(beat->devices);
      announced = true;
    }
  }
  EXPECT_TRUE(announced) << "no heartbeat listed no models";
  ASSERT_LT(index_of<sc::WorkerDone>(all, "j-short"), all.size());
  const size_t failed_at = index_of<sc::WorkerFailed>(all, "j-long");
  ASSERT_LT(failed_at, all.size());
  EXPECT_EQ(std::get<sc::WorkerFailed>(all[failed_at]).code, sc::ErrorCode::kDraining);
  EXPECT_EQ(index_of<sc::WorkerDone>(all, "j-long"), all.size());
  expect_run_returns_ok();
}

TEST_F(WorkerDrainTest, AnIdleWorkerDisconnectsAtOnce) {
  start(/*grace_ms=*/60000);
  worker_->request_drain();
  auto beat = drain_heartbeat();
  ASSERT_TRUE(beat.has_value());
  expect_no_models(beat->devices);
  auto bye = broker_.next<sc::WorkerDisconnect>();
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(bye->worker_id, kDrainWorkerId);
  EXPECT_EQ(bye->reason, "drained");
  expect_run_returns_ok();
  EXPECT_EQ(worker_->counters().handed_back.load(), 0u);
}

}  // namespace
}  // namespace rs::worker::io::testing
