// A broker restart (issue 14): a job whose worker died with the old broker is requeued by
// the new one after --recovery-wait-ms and resumes after the tokens its log holds: the
// new attempt's DISPATCH carries them as resume_tokens, its seqs go on from there, and a
// client sees every seq once. Real BrokerLoops (one after the other), Redis, DEALER peers.
#include <gtest/gtest.h>

#include <map>

#include "broker_fixture.h"

namespace rs::broker::testing {
namespace resume_test {

class BrokerResumeTest : public BrokerLoopTest {
 protected:
  static BrokerOptions options() {
    BrokerOptions o;
    o.recovery_wait_ms = 200;  // the old worker never comes back
    return o;
  }
  // The broker "crashes": its loop stops and it is destroyed; nothing ends its jobs.
  void crash() {
    loop_->request_stop();
    thread_.join();
    loop_.reset();
  }
  // A new broker on the same Redis and key prefix.
  void restart(BrokerOptions o) {
    o.redis.port = redis_.port();
    o.key_prefix = keys_.prefix;
    loop_ = std::make_unique<BrokerLoop>(ctx_, o);
    ASSERT_TRUE(loop_->bind().ok());
    thread_ = std::thread([this] { run_status_ = loop_->run(); });
  }
  static std::vector<int32_t> ids(const std::vector<sc::TokenEntry>& entries) {
    std::vector<int32_t> out;
    for (const auto& e : entries) out.push_back(e.token);
    return out;
  }
};

TEST_F(BrokerResumeTest, AJobRecoveredAfterARestartResumesAfterItsLoggedTokens) {
  start_broker_with(options());
  auto w1 = worker("w1", 1);
  auto c = client("c1");
  auto request = submit(1);
  request.sampling.seed = 42;
  c->send(request);
  const std::string job = c->expect<sc::Accepted>().job_id;
  auto first = w1->expect<sc::Dispatch>();
  ASSERT_EQ(first.attempt, 1u);
  const auto delivered = tokens(job, 1, 0, 4);
  w1->send(sc::WorkerTokens{.entries = delivered});
  // The client gets them once they are written: the log holds seqs 0..3 now.
  ASSERT_EQ(recv_seqs(*c, 4), (std::vector<uint64_t>{0, 1, 2, 3}));
  crash();
  w1.reset();  // its worker dies with it: nobody lists the job again
  c.reset();

  restart(options());
  auto c2 = client("c2");
  c2->send(sc::SubscribeRequest{.request_id = 2, .job_id = job, .from_seq = 0});
  auto replayed = c2->expect<sc::TokenBatch>(5000);
  EXPECT_EQ(replayed.entries, delivered) << "the replay reaches the seqs the log holds";
  auto w2 = worker("w2", 1);
  auto second = w2->expect<sc::Dispatch>(5000);  // after the 200 ms recovery wait
  EXPECT_EQ(second.job_id, job);
  EXPECT_EQ(second.attempt, 2u);
  EXPECT_EQ(second.request.sampling.seed, std::optional<uint64_t>(42));
  EXPECT_EQ(second.resume_tokens, ids(delivered));
  w2->send(sc::WorkerTokens{.entries = tokens(job, 2, 4, 8)});
  w2->send(sc::WorkerDone{.job_id = job, .attempt = 2, .device = 0, .finish_reason = "length"});
  std::vector<sc::TokenEntry> live;
  std::optional<sc::Done> done;
  while (!done) {
    auto m = c2->recv(5000);
    ASSERT_TRUE(m.has_value()) << "no DONE";
    if (auto* t = std::get_if<sc::TokenBatch>(&*m))
      live.insert(live.end(), t->entries.begin(), t->entries.end());
    if (auto* d = std::get_if<sc::Done>(&*m)) done = *d;
  }
  EXPECT_EQ(live, tokens(job, 2, 4, 8)) << "seqs 4.. once each, from attempt 2: no gap, no repeat";
  EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(done->record.attempt, 2u);
  EXPECT_EQ(done->record.usage.completion_tokens, 8u) << "the seqs went on from 4";
  auto log = log_->read(job, 0);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_TRUE(log->finished);
  EXPECT_EQ(log->n_tokens, 8u);
  std::vector<sc::TokenEntry> whole = delivered;
  for (const auto& e : tokens(job, 2, 4, 8)) whole.push_back(e);
  EXPECT_EQ(log->entries, whole) << "attempt 1's seqs 0..3, then attempt 2's from 4 on";
  EXPECT_EQ(loop_->counters().resumed_from_log.load(), 1u);
  EXPECT_EQ(loop_->counters().stale_dropped.load(), 0u) << "no seq was delivered twice";
}

// Jobs never dispatched, or whose log is empty, start from token 0 as before.
TEST_F(BrokerResumeTest, ARecoveredJobWithoutLoggedTokensStartsFromTokenZero) {
  start_broker_with(options());
  auto w1 = worker("w1", 1);
  auto c = client("c1");
  c->send(submit(1));
  const std::string job = c->expect<sc::Accepted>().job_id;
  c->send(submit(2));
  const std::string queued = c->expect<sc::Accepted>().job_id;  // w1 has one slot
  ASSERT_EQ(w1->expect<sc::Dispatch>().job_id, job);
  crash();
  w1.reset();
  restart(options());
  auto w2 = worker("w2", 2);
  std::map<std::string, sc::Dispatch> dispatches;
  while (dispatches.size() < 2) {
    auto d = w2->expect<sc::Dispatch>(5000);
    if (d.job_id.empty()) break;
    dispatches[d.job_id] = d;
  }
  ASSERT_EQ(dispatches.size(), 2u);
  EXPECT_EQ(dispatches[job].attempt, 2u);
  EXPECT_TRUE(dispatches[job].resume_tokens.empty());
  EXPECT_EQ(dispatches[queued].attempt, 1u);
  EXPECT_TRUE(dispatches[queued].resume_tokens.empty());
  EXPECT_EQ(loop_->counters().resumed_from_log.load(), 0u);
}

}  // namespace resume_test
}  // namespace rs::broker::testing
