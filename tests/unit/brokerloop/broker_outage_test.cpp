// While Redis fails (issue 14), jobs already accepted keep streaming from memory: their
// TOKENS reach clients at once, while their writes and their DONE wait in order for Redis;
// once it answers, the DONE follows and Redis holds exactly what the client received. A
// subscriber whose replay waits for Redis gets its live tokens only after that replay.
// Real BrokerLoop, Redis (stopped with SIGSTOP) and DEALER peers.
#include <gtest/gtest.h>

#include "broker_fixture.h"

namespace rs::broker::testing {
namespace outage_test {

class BrokerOutageTest : public BrokerLoopTest {
 protected:
  static BrokerOptions options() {
    BrokerOptions o;
    o.store_timeout_ms = 300;  // a write unanswered this long: Redis fails
    return o;
  }
  // TOKENS until n seqs arrived; fails on anything else but TOKENS.
  static std::vector<uint64_t> expect_seqs(Peer& p, size_t n, long timeout_ms) {
    std::vector<uint64_t> seqs;
    while (seqs.size() < n) {
      auto m = p.recv(timeout_ms);
      if (!m) break;
      auto* t = std::get_if<sc::TokenBatch>(&*m);
      if (t == nullptr) {
        ADD_FAILURE() << "got " << sc::command_name(sc::message_command(*m))
                      << " instead of TOKENS";
        break;
      }
      for (const auto& e : t->entries) seqs.push_back(e.seq);
    }
    return seqs;
  }
  static std::vector<uint64_t> range(uint64_t from, uint64_t to) {
    std::vector<uint64_t> out;
    for (uint64_t s = from; s < to; ++s) out.push_back(s);
    return out;
  }
};

TEST_F(BrokerOutageTest, AcceptedJobsStreamFromMemoryWhileRedisIsStoppedAndEndOnceItAnswers) {
  start_broker_with(options());
  auto w = worker("w1", 1);
  auto c = client("c1");
  auto request = submit(1);
  request.stream = true;
  c->send(request);
  const std::string job = c->expect<sc::Accepted>().job_id;
  w->expect<sc::Dispatch>();
  w->send(sc::WorkerTokens{.entries = tokens(job, 1, 0, 5)});
  EXPECT_EQ(expect_seqs(*c, 5, 5000), range(0, 5));

  redis_.pause();
  w->send(sc::WorkerTokens{.entries = tokens(job, 1, 5, 10)});
  // A late subscriber's replay needs Redis: it gets nothing until Redis answers.
  auto late = client("late");
  late->send(sc::SubscribeRequest{.request_id = 2, .job_id = job, .from_seq = 0});
  EXPECT_EQ(expect_seqs(*c, 5, 10000), range(5, 10)) << "no tokens while Redis is stopped";
  w->send(sc::WorkerTokens{.entries = tokens(job, 1, 10, 15)});
  EXPECT_EQ(expect_seqs(*c, 5, 10000), range(10, 15));
  w->send(sc::WorkerDone{.job_id = job,
                         .attempt = 1,
                         .device = 0,
                         .usage = sc::Usage{.completion_tokens = 15},
                         .finish_reason = "length"});
  EXPECT_FALSE(c->recv(500).has_value()) << "the DONE came before its end was in Redis";
  EXPECT_FALSE(late->recv(10).has_value()) << "live tokens came before the replay";

  redis_.resume();
  auto done = c->expect<sc::Done>(15000);
  EXPECT_EQ(done.record.state, sc::JobState::kSucceeded);
  auto [late_seqs, late_done] = drain_until_done(*late);
  EXPECT_EQ(late_seqs, range(0, 15)) << "the replay, then the live tokens: no gap, no repeat";
  ASSERT_TRUE(late_done.has_value());
  // Redis holds what the client received.
  auto log = log_->read(job, 0);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  std::vector<uint64_t> logged;
  for (const auto& e : log->entries) logged.push_back(e.seq);
  EXPECT_EQ(logged, range(0, 15));
  EXPECT_TRUE(log->finished);
  EXPECT_EQ(log->n_tokens, 15u);
  auto record = store_->load(job);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->state, sc::JobState::kSucceeded);
}

}  // namespace outage_test
}  // namespace rs::broker::testing
