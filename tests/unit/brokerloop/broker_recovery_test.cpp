// The broker loop when jobs change hands: a worker leaving (requeue with attempt + 1 and
// fencing of the old attempt), cancelling a running job, and the WORKERS listing.
#include "broker_fixture.h"

namespace rs::broker::testing {
namespace {

TEST_F(BrokerLoopTest, WorkerDisconnectRequeuesWithNextAttemptAndFencesTheOld) {
  start_broker();
  auto w1 = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  auto job = c->expect<sc::Accepted>().job_id;
  ASSERT_EQ(w1->expect<sc::Dispatch>().attempt, 1u);
  w1->send(sc::WorkerTokens{.entries = tokens(job, 1, 0, 2)});
  EXPECT_EQ(recv_seqs(*c, 2), (std::vector<uint64_t>{0, 1}));
  w1->send(sc::WorkerDisconnect{.worker_id = "w1", .reason = "test"});

  auto w2 = worker("w2", 1);
  auto d2 = w2->expect<sc::Dispatch>();
  EXPECT_EQ(d2.job_id, job);
  EXPECT_EQ(d2.attempt, 2u);
  // The old attempt speaks again: dropped. The new one replays from seq 0: only 2.. pass.
  w1->send(sc::WorkerTokens{.entries = tokens(job, 1, 2, 3)});
  w2->send(sc::WorkerTokens{.entries = tokens(job, 2, 0, 4)});
  w2->send(sc::WorkerDone{.job_id = job, .attempt = 2, .device = 0, .usage = {},
                          .finish_reason = "stop"});
  auto [seqs, done] = drain_until_done(*c);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{2, 3}));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(done->record.attempt, 2u);
  EXPECT_EQ(done->record.worker, "w2");
  auto record = store_->load(job);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->attempt, 2u);
  EXPECT_EQ(record->state, sc::JobState::kSucceeded);
  auto replay = log_->read(job, 0);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->entries.size(), 4u);
}

TEST_F(BrokerLoopTest, CancelRunningJobIsSentToItsWorkerAndEndsCancelled) {
  start_broker();
  auto w = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  auto job = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  c->send(sc::CancelRequest{.request_id = 2, .job_id = job});
  auto ack = c->expect<sc::StatusReply>();  // still running: it ends on the worker's answer
  EXPECT_EQ(ack.request_id, 2u);
  EXPECT_EQ(ack.record.state, sc::JobState::kDispatched);
  auto cancel = w->expect<sc::CancelJob>();
  EXPECT_EQ(cancel.job_id, job);
  EXPECT_EQ(cancel.attempt, 1u);
  w->send(sc::WorkerDone{.job_id = job, .attempt = 1, .device = 0, .usage = {},
                         .finish_reason = "cancelled"});
  auto done = c->expect<sc::Done>();
  EXPECT_EQ(done.record.state, sc::JobState::kCancelled);
  auto record = store_->load(job);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->state, sc::JobState::kCancelled);
}

TEST_F(BrokerLoopTest, WorkersListsEveryDevice) {
  start_broker();
  auto w1 = worker("w1", 2, "m");
  auto w2 = worker("w2", 3, "other");
  auto c = client("c1");
  c->send(sc::WorkersRequest{.request_id = 5});
  auto reply = c->expect<sc::WorkersReply>();
  EXPECT_EQ(reply.request_id, 5u);
  ASSERT_EQ(reply.devices.size(), 2u);
  EXPECT_EQ(reply.devices[0].worker, "w1");
  EXPECT_EQ(reply.devices[0].max_slots, 2u);
  EXPECT_EQ(reply.devices[1].models, (std::vector<std::string>{"other"}));
}

}  // namespace
}  // namespace rs::broker::testing

namespace rs::broker::testing {
namespace {

// Waits for a DISPATCH on w while keeping w alive with heartbeats every 30 ms.
sc::Dispatch dispatch_while_beating(Peer& w, const std::string& id) {
  for (int i = 0; i < 60; ++i) {
    w.send(sc::WorkerHeartbeat{.worker_id = id, .devices = {}});
    auto m = w.recv(30);
    if (m && std::holds_alternative<sc::Dispatch>(*m)) return std::get<sc::Dispatch>(*m);
  }
  ADD_FAILURE() << "no dispatch";
  return {};
}

TEST_F(BrokerLoopTest, SilentWorkerExpiresAndItsJobMovesOn) {
  start_broker(100, /*heartbeat_ms=*/50, /*max_attempts=*/3);
  auto w1 = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  auto job = c->expect<sc::Accepted>().job_id;
  ASSERT_EQ(w1->expect<sc::Dispatch>().attempt, 1u);
  auto w2 = worker("w2", 1);  // w1 now stays silent and expires after 3 x 50 ms
  auto d2 = dispatch_while_beating(*w2, "w2");
  EXPECT_EQ(d2.job_id, job);
  EXPECT_EQ(d2.attempt, 2u);
  w2->send(sc::WorkerDone{.job_id = job, .attempt = 2, .device = 0, .usage = {},
                          .finish_reason = "stop"});
  auto done = c->expect<sc::Done>();
  EXPECT_EQ(done.record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(done.record.attempt, 2u);
}

TEST_F(BrokerLoopTest, MaxAttemptsFailsTheJobAndDeadLettersIt) {
  start_broker(100, /*heartbeat_ms=*/50, /*max_attempts=*/1);
  auto w1 = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  auto job = c->expect<sc::Accepted>().job_id;
  w1->expect<sc::Dispatch>();
  auto done = c->expect<sc::Done>();  // w1 stays silent: expiry, no attempt left
  EXPECT_EQ(done.record.state, sc::JobState::kFailed);
  EXPECT_EQ(done.record.error_code, sc::ErrorCode::kMaxAttempts);
  auto dead = store_->dead_letters();
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(*dead, (std::vector<std::string>{job}));
  auto record = store_->load(job);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->state, sc::JobState::kFailed);
}

}  // namespace
}  // namespace rs::broker::testing

namespace rs::broker::testing {
namespace {

TEST_F(BrokerLoopTest, UnknownWorkerIsAskedToReady) {
  start_broker();
  Peer stranger(ctx_, loop_->worker_endpoint(), "stranger");
  stranger.send(sc::WorkerHeartbeat{.worker_id = "stranger", .devices = {}});
  auto bye = stranger.expect<sc::BrokerDisconnect>();
  EXPECT_NE(bye.reason.find("READY"), std::string::npos);
}

}  // namespace
}  // namespace rs::broker::testing
