// The broker's reads never wait in its loop (issue 14): STATUS of an ended job and SUBSCRIBE
// replays go at the end of a turn's pipeline and are answered when the StoreWriter applies
// it; registry and ingest polls run on the StoreReader. With Redis stopped (SIGSTOP) the
// broker still answers PINGs, and the reads are answered, complete and in order, once
// Redis runs again. Real BrokerLoop, Redis, DEALERs.
#include <gtest/gtest.h>

#include <chrono>

#include "broker_fixture.h"
#include "rs/store/batch_streams.h"

namespace rs::broker::testing {
namespace reads_test {

class BrokerReadsTest : public BrokerLoopTest {
 protected:
  // A job run to DONE with tokens 0..n-1 (the log holds them and the final marker).
  std::string finished_job(Peer& c, Peer& w, uint64_t n) {
    c.send(submit(1));
    const std::string job = c.expect<sc::Accepted>().job_id;
    w.expect<sc::Dispatch>();
    w.send(sc::WorkerTokens{.entries = tokens(job, 1, 0, n)});
    w.send(sc::WorkerDone{.job_id = job,
                          .attempt = 1,
                          .device = 0,
                          .usage = sc::Usage{.completion_tokens = static_cast<uint32_t>(n)},
                          .finish_reason = "length"});
    auto [seqs, done] = drain_until_done(c);
    EXPECT_EQ(seqs.size(), n);
    EXPECT_TRUE(done.has_value());
    return job;
  }
};

TEST_F(BrokerReadsTest, ReadsOfEndedJobsWaitForAStoppedRedisWhileThePingsAreAnswered) {
  BrokerOptions o;
  o.store_timeout_ms = 300;
  start_broker_with(o);
  auto w = worker("w1", 2);
  auto c = client("c1");
  const std::string job = finished_job(*c, *w, 5);

  redis_.pause();
  auto reader = client("reader");
  reader->send(sc::StatusRequest{.request_id = 11, .job_id = job});
  reader->send(sc::SubscribeRequest{.request_id = 12, .job_id = job, .from_seq = 2});
  reader->send(sc::Ping{.request_id = 13});
  // The PONG comes while Redis is stopped; before it, nothing (the reads wait for Redis).
  auto first = reader->recv(10000);
  ASSERT_TRUE(first.has_value()) << "no PONG while Redis is stopped";
  ASSERT_TRUE(std::holds_alternative<sc::Pong>(*first))
      << "got " << sc::command_name(sc::message_command(*first)) << " before the PONG";
  auto other = client("other");
  other->send(sc::Ping{.request_id = 14});
  EXPECT_EQ(other->expect<sc::Pong>(10000).request_id, 14u);
  EXPECT_FALSE(reader->recv(200).has_value()) << "a read was answered while Redis is stopped";

  redis_.resume();
  auto status = reader->expect<sc::StatusReply>(10000);
  EXPECT_EQ(status.request_id, 11u);
  EXPECT_EQ(status.record.state, sc::JobState::kSucceeded);
  auto [seqs, done] = drain_until_done(*reader);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{2, 3, 4}));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
}

// A live job's replay is read behind the turn's writes: a subscriber that joins mid-stream
// gets the logged tokens, then the live ones, with no gap and no duplicate.
TEST_F(BrokerReadsTest, ALateSubscriberOfALiveJobGetsTheLogThenTheLiveTokens) {
  start_broker();
  auto w = worker("w1", 2);
  auto c = client("c1");
  c->send(submit(1));
  const std::string job = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  w->send(sc::WorkerTokens{.entries = tokens(job, 1, 0, 40)});
  EXPECT_EQ(recv_seqs(*c, 40).size(), 40u);
  auto late = client("late");
  late->send(sc::SubscribeRequest{.request_id = 2, .job_id = job, .from_seq = 3});
  w->send(sc::WorkerTokens{.entries = tokens(job, 1, 40, 60)});
  w->send(sc::WorkerDone{.job_id = job,
                         .attempt = 1,
                         .device = 0,
                         .usage = sc::Usage{.completion_tokens = 60},
                         .finish_reason = "length"});
  auto [seqs, done] = drain_until_done(*late);
  std::vector<uint64_t> want;
  for (uint64_t s = 3; s < 60; ++s) want.push_back(s);
  EXPECT_EQ(seqs, want);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
}

// The registry and ingest polls run on the StoreReader: with Redis stopped while both are
// due every few ms and a read may wait 2 s for Redis, the loop keeps answering PINGs one
// after another (when the loop made those reads itself, each PING waited for one).
TEST_F(BrokerReadsTest, RegistryAndIngestPollsNeverHoldTheLoopWhileRedisIsStopped) {
  BrokerOptions o;
  o.read_timeout_ms = 2000;
  o.registry_poll_ms = 5;
  o.ingest_poll_ms = 5;
  start_broker_with(o);
  auto c = client("c1");
  c->send(sc::Ping{.request_id = 1});
  c->expect<sc::Pong>();
  redis_.pause();
  int pongs = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    c->send(sc::Ping{.request_id = static_cast<uint64_t>(2 + pongs)});
    auto pong = c->recv(10000);
    ASSERT_TRUE(pong.has_value() && std::holds_alternative<sc::Pong>(*pong));
    ++pongs;
  }
  redis_.resume();
  EXPECT_GE(pongs, 50) << "PINGs waited for the broker's Redis reads";
  // The reads go on once Redis runs again: a job from the ingest stream is created.
  auto w = worker("w1", 1);
  store::IngestOptions io;
  io.keys = keys_;
  store::IngestStream ingest(*conn_, io);
  store::IngestItem item;
  item.request = submit(0);
  ASSERT_TRUE(ingest.append(item).ok());
  auto dispatch = w->expect<sc::Dispatch>(15000);
  EXPECT_EQ(dispatch.request.prompt, "hello");
}

TEST_F(BrokerReadsTest, StatusAndSubscribeOfAnUnknownJobAreNotFound) {
  start_broker();
  auto c = client("c1");
  c->send(sc::StatusRequest{.request_id = 1, .job_id = "no-such-job"});
  EXPECT_EQ(c->expect<sc::ErrorReply>().code, sc::ErrorCode::kNotFound);
  c->send(sc::SubscribeRequest{.request_id = 2, .job_id = "no-such-job"});
  EXPECT_EQ(c->expect<sc::ErrorReply>().code, sc::ErrorCode::kNotFound);
}

}  // namespace reads_test
}  // namespace rs::broker::testing
