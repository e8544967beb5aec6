// The broker and peers that come and go (issue 14): a worker whose connection drops is
// expired at once and its job resumes elsewhere after its delivered tokens with the same
// seed; a draining worker's hand-back uses up no attempt; a submitter that disconnects has
// its streaming jobs cancelled unless detached; a job still queued at expires_ms ends
// FAILED `expired` and never reaches a worker. Real BrokerLoop, Redis and DEALER peers.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "broker_fixture.h"

namespace rs::broker::testing {
namespace {

class BrokerLifecycleTest : public BrokerLoopTest {};

TEST_F(BrokerLifecycleTest, AQueuedJobPastItsExpiryEndsExpiredAndNeverRuns) {
  start_broker();
  auto w = worker("w1", 0);  // no slot: the job stays queued
  auto c = client("c1");
  auto r = submit(1);
  r.expires_ms = 50;
  c->send(r);
  const std::string job = c->expect<sc::Accepted>().job_id;
  auto done = c->expect<sc::Done>(5000);
  EXPECT_EQ(done.record.state, sc::JobState::kFailed);
  EXPECT_EQ(done.record.error_code, sc::ErrorCode::kExpired);
  EXPECT_EQ(done.record.attempt, 0u);
  EXPECT_EQ(done.record.dispatched_ms, 0u);
  auto stored = store_->load(job);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->error_code, sc::ErrorCode::kExpired);
  EXPECT_FALSE(w->recv(100).has_value()) << "the expired job reached a worker";
}

TEST_F(BrokerLifecycleTest, AJobWithoutASeedGetsOneAndAHandBackResumesAfterItsTokens) {
  start_broker(/*max_queued=*/100, /*heartbeat_ms=*/1000, /*max_attempts=*/1);
  auto w1 = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  const std::string job = c->expect<sc::Accepted>().job_id;
  auto first = w1->expect<sc::Dispatch>();
  EXPECT_TRUE(first.request.sampling.seed.has_value()) << "the broker must choose a seed";
  EXPECT_TRUE(first.resume_tokens.empty());
  auto sent = tokens(job, 1, 0, 3);
  w1->send(sc::WorkerTokens{.entries = sent});
  EXPECT_EQ(recv_seqs(*c, 3), (std::vector<uint64_t>{0, 1, 2}));
  auto w2 = worker("w2", 1);
  // Handed back by a draining worker: requeued although max_attempts is 1.
  w1->send(sc::WorkerFailed{.job_id = job,
                            .attempt = 1,
                            .device = 0,
                            .code = sc::ErrorCode::kDraining,
                            .message = "draining"});
  auto second = w2->expect<sc::Dispatch>(5000);
  EXPECT_EQ(second.attempt, 2u);
  EXPECT_EQ(second.request.sampling.seed, first.request.sampling.seed);
  std::vector<int32_t> delivered;
  for (const auto& e : sent) delivered.push_back(e.token);
  EXPECT_EQ(second.resume_tokens, delivered);
  w2->send(sc::WorkerTokens{.entries = tokens(job, 2, 3, 5)});
  w2->send(sc::WorkerDone{.job_id = job, .attempt = 2, .device = 0, .finish_reason = "length"});
  auto [seqs, done] = drain_until_done(*c);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{3, 4}));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
}

TEST_F(BrokerLifecycleTest, AWorkerWhoseConnectionDropsIsExpiredAtOnce) {
  start_broker(/*max_queued=*/100, /*heartbeat_ms=*/60000);  // heartbeats cannot expire it
  auto w1 = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  const std::string job = c->expect<sc::Accepted>().job_id;
  w1->expect<sc::Dispatch>();
  w1->send(sc::WorkerTokens{.entries = tokens(job, 1, 0, 2)});
  EXPECT_EQ(recv_seqs(*c, 2), (std::vector<uint64_t>{0, 1}));
  auto w2 = worker("w2", 1);
  w1.reset();  // the connection closes (as when the process dies)
  auto again = w2->expect<sc::Dispatch>(10000);
  EXPECT_EQ(again.job_id, job);
  EXPECT_EQ(again.attempt, 2u);
  EXPECT_EQ(again.resume_tokens.size(), 2u);
  EXPECT_GE(loop_->counters().workers_dropped.load(), 1u);
}

TEST_F(BrokerLifecycleTest, ASubmitterThatDisconnectsHasItsStreamingJobsCancelledUnlessDetached) {
  start_broker();
  auto w = worker("w1", 2);
  auto c = client("c1");
  c->send(submit(1));
  const std::string streaming = c->expect<sc::Accepted>().job_id;
  auto detached = submit(2);
  detached.detach = true;
  c->send(detached);
  const std::string kept = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  w->expect<sc::Dispatch>();
  c.reset();
  auto cancel = w->expect<sc::CancelJob>(10000);
  EXPECT_EQ(cancel.job_id, streaming);
  w->send(
      sc::WorkerDone{.job_id = streaming, .attempt = 1, .device = 0, .finish_reason = "cancelled"});
  // The DONE's transition is applied by the store writer: poll Redis for it.
  bool cancelled = false;
  for (int i = 0; i < 500 && !cancelled; ++i) {
    auto r = store_->load(streaming);
    cancelled = r.ok() && r->state == sc::JobState::kCancelled;
    if (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(cancelled);
  EXPECT_FALSE(w->recv(200).has_value()) << "the detached job was cancelled too";
  auto other = store_->load(kept);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->state, sc::JobState::kDispatched);
}

// A client that stops reading while its job streams: once its queue (--max-client-lag) is
// full it is dropped from the stream and told `lagged` (with its last seq + 1);
// re-subscribing from there it gets the rest from the log, with no gap and no duplicate.
TEST_F(BrokerLifecycleTest, ASlowSubscriberIsToldLaggedAndCatchesUpFromTheLog) {
  BrokerOptions o;
  o.client_sndhwm = 16;
  start_broker_with(o);
  auto w = worker("w1", 1);
  auto slow = client("slow");
  slow->send(submit(1));
  const std::string job = slow->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  constexpr uint64_t kTokens = 4000;  // ~4 MB: more than the socket buffers hold
  for (uint64_t s = 0; s < kTokens; ++s) {
    auto e = tokens(job, 1, s, s + 1);
    e[0].text.assign(1000, 'x');
    w->send(sc::WorkerTokens{.entries = e});
  }
  w->send(sc::WorkerDone{.job_id = job, .attempt = 1, .device = 0, .finish_reason = "length"});
  for (int i = 0; i < 500 && loop_->counters().clients_lagged.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(loop_->counters().clients_lagged.load(), 1u) << "the slow client was never lagged";
  std::vector<uint64_t> seqs;
  bool lagged = false, done = false;
  while (!done) {
    auto m = slow->recv(10000);
    ASSERT_TRUE(m.has_value()) << "stream stalled after " << seqs.size() << " tokens";
    if (auto* t = std::get_if<sc::TokenBatch>(&*m)) {
      for (const auto& e : t->entries) {
        if (e.seq == seqs.size()) seqs.push_back(e.seq);  // a re-sent entry is skipped
      }
    } else if (auto* err = std::get_if<sc::ErrorReply>(&*m)) {
      ASSERT_EQ(err->code, sc::ErrorCode::kLagged) << err->message;
      EXPECT_EQ(err->job_id, job);
      // It carries this client's last seq + 1: everything before it came through.
      ASSERT_TRUE(err->next_seq.has_value());
      EXPECT_EQ(*err->next_seq, seqs.size());
      lagged = true;
      slow->send(sc::SubscribeRequest{.request_id = 2, .job_id = job, .from_seq = seqs.size()});
    } else if (auto* d = std::get_if<sc::Done>(&*m)) {
      done = lagged;  // the DONE comes through the new subscription
      EXPECT_EQ(d->record.state, sc::JobState::kSucceeded);
      if (!lagged) ADD_FAILURE() << "DONE reached a client that was lagged before its ERROR";
      break;
    }
  }
  EXPECT_TRUE(lagged);
  EXPECT_EQ(seqs.size(), kTokens) << "a gap after catching up from the log";
}

}  // namespace
}  // namespace rs::broker::testing
