// The broker loop end to end on loopback: real redis-server, real ZeroMQ sockets, the loop
// in a thread, a scripted worker. Submit -> dispatch -> tokens -> done; rejections;
// malformed input; late subscribers.
#include "broker_fixture.h"

namespace rs::broker::testing {
namespace {

TEST_F(BrokerLoopTest, SubmitDispatchTokensDoneEndsSucceeded) {
  start_broker();
  auto w = worker("w1", 2);
  auto c = client("c1");
  c->send(submit(7));
  auto accepted = c->expect<sc::Accepted>();
  ASSERT_EQ(accepted.request_id, 7u);
  ASSERT_FALSE(accepted.job_id.empty());
  auto dispatch = w->expect<sc::Dispatch>();
  EXPECT_EQ(dispatch.job_id, accepted.job_id);
  EXPECT_EQ(dispatch.attempt, 1u);
  EXPECT_EQ(dispatch.request.prompt, "hello");
  w->send(sc::WorkerTokens{.entries = tokens(dispatch.job_id, 1, 0, 2)});
  w->send(sc::WorkerTokens{.entries = tokens(dispatch.job_id, 1, 2, 3)});
  w->send(sc::WorkerDone{.job_id = dispatch.job_id, .attempt = 1, .device = 0,
                         .usage = {.prompt_tokens = 5, .completion_tokens = 3},
                         .finish_reason = "length"});
  auto [seqs, done] = drain_until_done(*c);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{0, 1, 2}));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(done->record.worker, "w1");
  EXPECT_EQ(done->record.usage.completion_tokens, 3u);

  auto record = store_->load(accepted.job_id);
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  EXPECT_EQ(record->state, sc::JobState::kSucceeded);
  EXPECT_EQ(record->attempt, 1u);
  EXPECT_EQ(record->worker, "w1");
  auto replay = log_->read(accepted.job_id, 0);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->entries.size(), 3u);
  EXPECT_TRUE(replay->finished);

  c->send(sc::StatusRequest{.request_id = 9, .job_id = accepted.job_id});
  auto status = c->expect<sc::StatusReply>();
  EXPECT_EQ(status.request_id, 9u);
  EXPECT_EQ(status.record.state, sc::JobState::kSucceeded);
}

TEST_F(BrokerLoopTest, StaleAndDuplicateTokensAreDropped) {
  start_broker();
  auto w = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  auto job = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  w->send(sc::WorkerTokens{.entries = tokens(job, 1, 0, 2)});
  w->send(sc::WorkerTokens{.entries = tokens(job, 1, 1, 3)});  // seq 1 again
  w->send(sc::WorkerTokens{.entries = tokens(job, 7, 3, 4)});  // wrong attempt
  w->send(sc::WorkerDone{.job_id = job, .attempt = 1, .device = 0, .usage = {}, .finish_reason = "stop"});
  auto [seqs, done] = drain_until_done(*c);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{0, 1, 2}));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
  EXPECT_GE(loop_->counters().stale_dropped.load(), 2u);
}

TEST_F(BrokerLoopTest, QueueFullAndUnknownModelAreRejectedAtOnce) {
  start_broker(/*max_queued=*/2);
  auto w = worker("w1", 0);  // serves "m" but has no slot: jobs stay queued
  auto c = client("c1");
  c->send(submit(1, "nope"));
  auto unknown = c->expect<sc::Rejected>();
  EXPECT_EQ(unknown.request_id, 1u);
  EXPECT_EQ(unknown.code, sc::ErrorCode::kUnknownModel);
  for (uint64_t i = 2; i <= 3; ++i) {
    c->send(submit(i));
    EXPECT_EQ(c->expect<sc::Accepted>().request_id, i);
  }
  c->send(submit(4));
  auto full = c->expect<sc::Rejected>();
  EXPECT_EQ(full.request_id, 4u);
  EXPECT_EQ(full.code, sc::ErrorCode::kQueueFull);
  EXPECT_EQ(loop_->counters().error_count(sc::ErrorCode::kQueueFull), 1u);
}

TEST_F(BrokerLoopTest, InvalidSubmitValuesAreRejectedWithTheirRequestId) {
  start_broker();
  auto w = worker("w1", 1);
  auto c = client("c1");
  auto zero = submit(11);
  zero.max_tokens = 0;
  c->send(zero);
  auto r1 = c->expect<sc::Rejected>();
  EXPECT_EQ(r1.request_id, 11u);
  EXPECT_EQ(r1.code, sc::ErrorCode::kInvalidArgument);
  auto longp = submit(12);
  longp.prompt.assign((1u << 20) + 1, 'x');
  c->send(longp);
  auto r2 = c->expect<sc::Rejected>();
  EXPECT_EQ(r2.code, sc::ErrorCode::kPromptTooLong);
  c->send(submit(13));
  EXPECT_EQ(c->expect<sc::Accepted>().request_id, 13u);
}

TEST_F(BrokerLoopTest, IdempotencyKeyReturnsTheFirstJob) {
  start_broker();
  auto w = worker("w1", 0);
  auto c = client("c1");
  auto req = submit(1);
  req.idempotency_key = "k1";
  c->send(req);
  auto first = c->expect<sc::Accepted>();
  req.request_id = 2;
  c->send(req);
  auto second = c->expect<sc::Accepted>();
  EXPECT_EQ(second.job_id, first.job_id);
  EXPECT_TRUE(second.duplicate);
}

TEST_F(BrokerLoopTest, MalformedFramesGetTypedErrorsAndTheBrokerKeepsServing) {
  start_broker();
  auto c = client("c1");
  struct Case {
    sc::Frames frames;
    sc::ErrorCode code;
  };
  std::string body = sc::encode(sc::Ping{.request_id = 3});
  std::vector<Case> cases = {
      {{"garbage"}, sc::ErrorCode::kBadFrame},
      {{"XYZ\x01", std::string(1, '\x06'), body}, sc::ErrorCode::kBadFrame},
      {{std::string("RSP\x02", 4), std::string(1, '\x06'), body}, sc::ErrorCode::kBadVersion},
      {{sc::header_frame(), std::string(1, '\x7f'), body}, sc::ErrorCode::kUnknownCommand},
      {{sc::header_frame(), std::string(1, '\x11'), body}, sc::ErrorCode::kUnknownCommand},
      {{sc::header_frame(), std::string(1, '\x01'), "\x85\xa5mod"}, sc::ErrorCode::kBadMsgpack},
  };
  for (const Case& k : cases) {
    c->send_raw(k.frames);
    auto err = c->expect<sc::ErrorReply>();
    EXPECT_EQ(err.code, k.code) << sc::error_code_name(err.code);
  }
  c->send(sc::Ping{.request_id = 42});
  EXPECT_EQ(c->expect<sc::Pong>().request_id, 42u);
  EXPECT_GE(loop_->counters().error_count(sc::ErrorCode::kBadFrame), 2u);
  EXPECT_GE(loop_->counters().error_count(sc::ErrorCode::kUnknownCommand), 2u);
  // A worker speaking garbage is counted and ignored; the worker side keeps serving too.
  Peer bad(ctx_, loop_->worker_endpoint(), "bad-worker");
  bad.send_raw({"junk", "junk"});
  auto w = worker("w1", 1);
  c->send(submit(5));
  EXPECT_EQ(c->expect<sc::Accepted>().request_id, 5u);
  EXPECT_FALSE(w->expect<sc::Dispatch>().job_id.empty());
}

TEST_F(BrokerLoopTest, LateSubscribersGetExactlyTheRest) {
  start_broker();
  auto w = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  auto job = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  w->send(sc::WorkerTokens{.entries = tokens(job, 1, 0, 4)});
  EXPECT_EQ(recv_seqs(*c, 4), (std::vector<uint64_t>{0, 1, 2, 3}));  // flushed to Redis

  auto s0 = client("s0");
  s0->send(sc::SubscribeRequest{.request_id = 1, .job_id = job, .from_seq = 0});
  EXPECT_EQ(recv_seqs(*s0, 4), (std::vector<uint64_t>{0, 1, 2, 3}));
  auto s2 = client("s2");
  s2->send(sc::SubscribeRequest{.request_id = 2, .job_id = job, .from_seq = 2});
  EXPECT_EQ(recv_seqs(*s2, 2), (std::vector<uint64_t>{2, 3}));
  auto s5 = client("s5");  // ahead of the stream: only seq >= 5 once they exist
  s5->send(sc::SubscribeRequest{.request_id = 3, .job_id = job, .from_seq = 5});
  // Make sure every SUBSCRIBE was handled before the worker goes on.
  s5->send(sc::Ping{.request_id = 4});
  EXPECT_EQ(s5->expect<sc::Pong>().request_id, 4u);

  w->send(sc::WorkerTokens{.entries = tokens(job, 1, 4, 6)});
  w->send(sc::WorkerDone{.job_id = job, .attempt = 1, .device = 0, .usage = {}, .finish_reason = "stop"});
  auto expect_rest = [](Peer& p, std::vector<uint64_t> want) {
    auto [seqs, done] = drain_until_done(p);
    EXPECT_EQ(seqs, want);
    ASSERT_TRUE(done.has_value());
    EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
  };
  expect_rest(*c, {4, 5});
  expect_rest(*s0, {4, 5});
  expect_rest(*s2, {4, 5});
  expect_rest(*s5, {5});

  auto after = client("after");  // the job is over: replay from Redis, then DONE
  after->send(sc::SubscribeRequest{.request_id = 5, .job_id = job, .from_seq = 3});
  expect_rest(*after, {3, 4, 5});
}

TEST_F(BrokerLoopTest, CancelQueuedJobEndsCancelledAndUnknownJobIsNotFound) {
  start_broker();
  auto w = worker("w1", 0);
  auto c = client("c1");
  c->send(submit(1));
  auto job = c->expect<sc::Accepted>().job_id;
  c->send(sc::CancelRequest{.request_id = 2, .job_id = job});
  auto done = c->expect<sc::Done>();
  EXPECT_EQ(done.record.state, sc::JobState::kCancelled);
  auto ack = c->expect<sc::StatusReply>();  // the CANCEL's own answer
  EXPECT_EQ(ack.request_id, 2u);
  EXPECT_EQ(ack.record.state, sc::JobState::kCancelled);
  auto record = store_->load(job);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->state, sc::JobState::kCancelled);
  c->send(sc::CancelRequest{.request_id = 3, .job_id = "no-such-job"});
  auto err = c->expect<sc::ErrorReply>();
  EXPECT_EQ(err.code, sc::ErrorCode::kNotFound);
  EXPECT_EQ(err.request_id, 3u);
}

}  // namespace
}  // namespace rs::broker::testing
