// BrokerLoop hardening: oversized and malformed input, slow clients, retryable worker
// failures, heartbeat figures, idempotency within one loop turn.
#include <chrono>
#include <thread>

#include "broker_fixture.h"

namespace rs::broker::testing {
namespace {

std::string inproc_endpoint(const char* what) {
  return std::string("inproc://").append(what).append("-").append(
      std::to_string(std::random_device{}()));
}

// Bounded poll of a condition (the loop runs in its thread).
template <typename F>
bool eventually(F&& f, int timeout_ms = 5000) {
  for (int waited = 0; waited < timeout_ms; waited += 5) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return f();
}

TEST_F(BrokerLoopTest, FrameOverTheLimitGetsTooLargeAndAboveTheSocketCapOnlyItsPeerIsDropped) {
  BrokerOptions o;
  o.limits.max_frame_bytes = 64u << 10;  // socket cap: 2 x 64 KiB + 64 KiB
  start_broker_with(o);
  auto c = client("c1");
  c->send_raw({sc::header_frame(), std::string(1, '\x06'), std::string(100u << 10, 'x')});
  auto err = c->expect<sc::ErrorReply>();
  EXPECT_EQ(err.code, sc::ErrorCode::kTooLarge);
  EXPECT_EQ(loop_->counters().error_count(sc::ErrorCode::kTooLarge), 1u);
  // Above the cap ZeroMQ drops that connection; nobody else notices.
  auto big = client("c2");
  big->send_raw({sc::header_frame(), std::string(1, '\x06'), std::string(300u << 10, 'x')});
  c->send(sc::Ping{.request_id = 7});
  EXPECT_EQ(c->expect<sc::Pong>().request_id, 7u);
  auto c3 = client("c3");
  c3->send(sc::Ping{.request_id = 8});
  EXPECT_EQ(c3->expect<sc::Pong>().request_id, 8u);
}

TEST_F(BrokerLoopTest, TruncatedMsgpackIsBadMsgpackForAnyCommand) {
  start_broker();
  auto c = client("c1");
  std::string ping = sc::encode(sc::Ping{.request_id = 3});
  std::string sub = sc::encode(submit(4));
  for (auto [cmd, body] : {std::pair{'\x06', ping}, std::pair{'\x01', sub}}) {
    body.pop_back();
    c->send_raw({sc::header_frame(), std::string(1, cmd), body});
    EXPECT_EQ(c->expect<sc::ErrorReply>().code, sc::ErrorCode::kBadMsgpack);
  }
  EXPECT_EQ(loop_->counters().error_count(sc::ErrorCode::kBadMsgpack), 2u);
  c->send(sc::Ping{.request_id = 9});
  EXPECT_EQ(c->expect<sc::Pong>().request_id, 9u);
}

// A client that does not read: its replies wait in the broker (in order, bounded per
// client) instead of being lost, nobody else waits, and once it reads it gets them all.
TEST_F(BrokerLoopTest, AClientThatDoesNotReadHasItsRepliesHeldAndNobodyElseWaits) {
  BrokerOptions o;
  o.client_endpoint = inproc_endpoint("slow");
  o.client_sndhwm = 4;
  start_broker_with(o);
  Peer slow(ctx_, loop_->client_endpoint(), "slow", /*rcvhwm=*/4);
  constexpr uint64_t kPings = 200;
  for (uint64_t i = 1; i <= kPings; ++i) slow.send(sc::Ping{.request_id = i});
  ASSERT_TRUE(eventually([&] { return loop_->counters().replies_held.load() > 0; }));
  Peer other(ctx_, loop_->client_endpoint(), "other");
  other.send(sc::Ping{.request_id = 1000});
  EXPECT_EQ(other.expect<sc::Pong>().request_id, 1000u);
  uint64_t next = 1;
  while (auto m = slow.recv(2000)) {
    auto* pong = std::get_if<sc::Pong>(&*m);
    ASSERT_NE(pong, nullptr);
    EXPECT_EQ(pong->request_id, next) << "out of order";
    if (++next > kPings) break;
  }
  EXPECT_EQ(next, kPings + 1) << "a reply was lost";
  EXPECT_EQ(loop_->counters().client_drops.load(), 0u);
}

TEST_F(BrokerLoopTest, RetryableWorkerFailuresAreRetriedUpToMaxAttempts) {
  start_broker(100, 1000, /*max_attempts=*/3);
  auto w = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  auto job = c->expect<sc::Accepted>().job_id;
  const sc::ErrorCode codes[] = {sc::ErrorCode::kInternal, sc::ErrorCode::kWorkerLost,
                                 sc::ErrorCode::kUnavailable};
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto d = w->expect<sc::Dispatch>();
    EXPECT_EQ(d.job_id, job);
    EXPECT_EQ(d.attempt, attempt);
    w->send(sc::WorkerFailed{.job_id = job, .attempt = attempt, .device = 0,
                             .code = codes[attempt - 1], .message = "device trouble"});
  }
  auto done = c->expect<sc::Done>();
  EXPECT_EQ(done.record.state, sc::JobState::kFailed);
  EXPECT_EQ(done.record.error_code, sc::ErrorCode::kMaxAttempts);
  EXPECT_EQ(loop_->counters().retried.load(), 2u);
  auto dead = store_->dead_letters();
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(*dead, std::vector<std::string>{job});
}

TEST_F(BrokerLoopTest, NonRetryableWorkerFailureFailsAtOnce) {
  start_broker();
  auto w = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  auto job = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  w->send(sc::WorkerFailed{.job_id = job, .attempt = 1, .device = 0,
                           .code = sc::ErrorCode::kPromptTooLong, .message = "context is 64"});
  auto done = c->expect<sc::Done>();
  EXPECT_EQ(done.record.state, sc::JobState::kFailed);
  EXPECT_EQ(done.record.error_code, sc::ErrorCode::kPromptTooLong);
  EXPECT_EQ(done.record.attempt, 1u);
  EXPECT_EQ(loop_->counters().retried.load(), 0u);
  auto record = store_->load(job);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->error_code, sc::ErrorCode::kPromptTooLong);
}

TEST_F(BrokerLoopTest, HeartbeatFiguresShowInWorkersButNeverAddCredits) {
  start_broker();
  auto w = worker("w1", 1);
  w->send(sc::WorkerHeartbeat{.worker_id = "w1",
                              .devices = {sc::DeviceLoad{.index = 0, .free_slots = 3, .running = 1,
                                                         .kv_blocks_free = 77,
                                                         .kv_blocks_total = 100, .has_models = false,
                                                         .models = {}}}});
  auto c = client("c1");
  sc::DeviceStatus dev;
  ASSERT_TRUE(eventually([&] {
    c->send(sc::WorkersRequest{.request_id = 5});
    auto reply = c->expect<sc::WorkersReply>();
    if (reply.devices.size() != 1) return false;
    dev = reply.devices[0];
    return dev.last_heartbeat_ms != 0;
  }));
  EXPECT_EQ(dev.kv_blocks_free, 77u);
  EXPECT_EQ(dev.kv_blocks_total, 100u);
  EXPECT_EQ(dev.free_slots, 3u);
  EXPECT_EQ(dev.running, 1u);
  EXPECT_EQ(dev.max_slots, 1u);
  // The heartbeat claimed 3 free slots; the broker still dispatches only its 1 credit.
  c->send(submit(1));
  c->send(submit(2));
  auto j1 = c->expect<sc::Accepted>().job_id;
  auto j2 = c->expect<sc::Accepted>().job_id;
  EXPECT_EQ(w->expect<sc::Dispatch>().job_id, j1);
  c->send(sc::StatusRequest{.request_id = 6, .job_id = j2});
  EXPECT_EQ(c->expect<sc::StatusReply>().record.state, sc::JobState::kQueued);
}

TEST_F(BrokerLoopTest, RedisDownRejectsNewJobsUnavailableAndGivesTheirSlotsBack) {
  start_broker();
  auto w = worker("w1", 1);
  auto c = client("c1");
  redis_.stop();
  c->send(submit(1));
  auto rejected = c->expect<sc::Rejected>();
  EXPECT_EQ(rejected.request_id, 1u);
  EXPECT_EQ(rejected.code, sc::ErrorCode::kUnavailable);
  ASSERT_TRUE(redis_.start());
  // The rejected job never reached the worker and its one slot is free again: the first
  // DISPATCH the worker sees is the first job Redis accepted.
  // SUBMITs get `unavailable` until the writer has reconnected and applied what it held
  // (bounded by time, not by a count: a loaded machine may take a while).
  std::string accepted;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (uint64_t id = 2; accepted.empty() && std::chrono::steady_clock::now() < deadline; ++id) {
    c->send(submit(id));
    auto m = c->recv();
    ASSERT_TRUE(m.has_value());
    if (auto* a = std::get_if<sc::Accepted>(&*m)) accepted = a->job_id;
    if (accepted.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(accepted.empty());
  EXPECT_EQ(w->expect<sc::Dispatch>().job_id, accepted);
  EXPECT_GE(loop_->counters().redis_errors.load(), 1u);
}

// Driven by hand so both SUBMITs are surely drained in one turn (inproc: a send has
// reached the broker's pipe when it returns).
TEST_F(BrokerLoopTest, SameIdempotencyKeyTwiceInOneTurnGivesOneJob) {
  BrokerOptions o;
  o.client_endpoint = inproc_endpoint("idem");
  start_broker_with(o, /*threaded=*/false);
  Peer w(ctx_, loop_->worker_endpoint(), "w1");
  w.set_skip_heartbeats(false);
  w.send(sc::WorkerReady{.worker_id = "w1",
                         .devices = {sc::DeviceInfo{.index = 0, .models = {"m"}, .max_slots = 0}}});
  bool acked = false;
  for (int i = 0; i < 200 && !acked; ++i) {
    ASSERT_TRUE(loop_->run_once(10).ok());
    acked = w.recv(0).has_value();
  }
  ASSERT_TRUE(acked);
  Peer c(ctx_, loop_->client_endpoint(), "c1");
  auto a = submit(1);
  a.idempotency_key = "k";
  auto b = submit(2);
  b.idempotency_key = "k";
  auto other = submit(3);
  other.idempotency_key = "k2";
  c.send(a);
  c.send(b);
  c.send(other);
  const uint64_t turns = loop_->counters().turns.load();
  ASSERT_TRUE(loop_->run_once(100).ok());
  EXPECT_EQ(loop_->counters().turns.load(), turns + 1);
  // The answers go out once the store writer has applied the turn's pipeline.
  for (int i = 0; i < 20 && loop_->counters().held_commands.load() != 0; ++i) {
    ASSERT_TRUE(loop_->run_once(100).ok());
  }
  auto first = c.expect<sc::Accepted>(200);
  auto second = c.expect<sc::Accepted>(200);
  auto third = c.expect<sc::Accepted>(200);
  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(second.job_id, first.job_id);
  EXPECT_TRUE(second.duplicate);
  EXPECT_NE(third.job_id, first.job_id);
  EXPECT_FALSE(third.duplicate);
  auto stored = store_->find_idempotent("k");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->value_or(""), first.job_id);
}

}  // namespace
}  // namespace rs::broker::testing
