// WorkerLoop recovery with a real BrokerLoop and Redis: a broker restart on the same endpoint
// (the worker reconnects and READYs again), and a stuck engine (the worker stops
// heartbeating, the broker expires it, and the job is re-dispatched once the engine recovers).
#include "rs/worker/io/worker_loop.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "worker_fixture.h"

namespace rs::worker::io::testing {
namespace {

constexpr int64_t kBeatMs = 200;

// Blocks engine steps while closed.
class Valve {
 public:
  void pass() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }
  void set_open(bool open) {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = open;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
};

class WorkerRecoveryTest : public WorkerLoopTest {
 protected:
  void TearDown() override {
    valve_.set_open(true);
    WorkerLoopTest::TearDown();
  }
  // WORKERS from a client: how many devices the broker lists.
  size_t broker_devices(Peer& c) {
    c.send(sc::WorkersRequest{.request_id = 77});
    for (;;) {
      auto m = c.recv();
      if (!m) return SIZE_MAX;
      if (auto* w = std::get_if<sc::WorkersReply>(&*m)) return w->devices.size();
    }
  }
  void expect_served(Peer& c, const std::string& prompt, uint64_t request_id) {
    const sc::SubmitRequest r = request(prompt, 16, request_id);
    const std::string job = submit(c, r, request_id);
    auto results = collect(c, 1);
    ASSERT_TRUE(results[job].done.has_value());
    EXPECT_EQ(results[job].done->record.state, sc::JobState::kSucceeded);
    EXPECT_EQ(results[job].tokens, direct_run(r));
  }
  Valve valve_;
};

TEST_F(WorkerRecoveryTest, ReadiesAgainAfterABrokerRestart) {
  start_broker(kBeatMs);
  start_worker(worker_options(1, kBeatMs));
  {
    auto c = client("before");
    expect_served(*c, "before the restart", 1);
  }
  const std::string endpoint = broker_->worker_endpoint();
  const uint64_t readies = worker_->counters().ready_sent.load();
  stop_broker();
  // No broker heartbeat for 3 intervals: the worker drops its socket and retries.
  ASSERT_TRUE(wait_until([this] { return worker_->counters().reconnects.load() >= 1; }));
  EXPECT_FALSE(worker_->registered());
  start_broker(kBeatMs, endpoint);
  ASSERT_TRUE(wait_until([this] { return worker_->registered(); }));
  EXPECT_GT(worker_->counters().ready_sent.load(), readies);
  EXPECT_GE(worker_->counters().registrations.load(), 2u);
  auto c = client("after");
  expect_served(*c, "after the restart", 2);
}

// A socket that never gets its link (nothing listens; or ZeroMQ gave up on it) is not kept
// forever by READY retries: after the liveness window the worker opens a new one.
TEST_F(WorkerRecoveryTest, ASocketThatNeverConnectsIsReplacedAfterTheLivenessWindow) {
  start_broker(kBeatMs);
  WorkerOptions o = worker_options(1, kBeatMs);
  o.broker_endpoint = "tcp://127.0.0.1:" + std::to_string(rs::test::RedisServer::free_port());
  worker_ = std::make_unique<WorkerLoop>(ctx_, model_.model, std::move(o));
  ASSERT_TRUE(worker_->start().ok());
  worker_thread_ = std::thread([this] { worker_status_ = worker_->run(); });
  ASSERT_TRUE(wait_until([this] { return worker_->counters().reconnects.load() >= 2; }));
  EXPECT_FALSE(worker_->registered());
}

TEST_F(WorkerRecoveryTest, AStuckEngineSilencesTheWorker) {
  start_broker(kBeatMs);
  WorkerOptions o = worker_options(1, kBeatMs);
  o.before_step = [this](int) { valve_.pass(); };
  start_worker(o);
  auto c = client("stuck");
  ASSERT_EQ(broker_devices(*c), 1u);
  valve_.set_open(false);
  const sc::SubmitRequest r = request("stuck in the middle", 16, 5);
  const std::string job = submit(*c, r);
  // The engine thread blocks before its first step: its beat goes stale.
  ASSERT_TRUE(wait_until([this] { return !worker_->healthy(); }));
  const uint64_t beats = worker_->counters().heartbeats_sent.load();
  // The broker hears nothing more and expires the worker.
  ASSERT_TRUE(wait_until([&] { return broker_devices(*c) == 0; }));
  EXPECT_EQ(worker_->counters().heartbeats_sent.load(), beats);
  EXPECT_FALSE(worker_->healthy());
  // The engine recovers: the worker READYs again and the requeued job runs as attempt 2.
  valve_.set_open(true);
  auto results = collect(*c, 1);
  const JobResult& j = results[job];
  ASSERT_TRUE(j.done.has_value());
  EXPECT_EQ(j.done->record.state, sc::JobState::kSucceeded) << j.done->record.error;
  EXPECT_EQ(j.done->record.attempt, 2u);
  EXPECT_EQ(j.tokens, direct_run(r));
  EXPECT_TRUE(worker_->healthy());
  EXPECT_GT(worker_->counters().heartbeats_sent.load(), beats);
}

}  // namespace
}  // namespace rs::worker::io::testing
