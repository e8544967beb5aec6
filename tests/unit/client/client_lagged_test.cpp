// rs_client's wait() on a stream the broker cut off (`lagged`): a real BrokerLoop with a
// tiny --max-client-lag and a worker peer that streams long tokens faster than the client
// takes them, until the broker's counter says the client was lagged. wait() must subscribe
// again by itself and return the whole output, gap-free and once each, then the DONE.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "client_fixture.h"

namespace rs::client::testing {
namespace lagged_test {
namespace {

constexpr uint32_t kMaxTokens = 1u << 16;
constexpr uint64_t kMaxFed = 20000;  // ~20 MB of text: the lag comes far earlier
constexpr uint64_t kAfterLag = 300;  // tokens streamed after the lag, before the end
constexpr size_t kTextBytes = 1000;  // long tokens fill the socket buffers quickly

std::string token_text(uint64_t seq) {
  std::string text = std::string("t").append(std::to_string(seq)).append(":");
  text.resize(kTextBytes, 'x');
  return text;
}

class ClientLaggedTest : public ClientTest {
 protected:
  void start() {
    broker::BrokerOptions o;
    o.client_sndhwm = 16;    // --max-client-lag 16
    o.heartbeat_ms = 60000;  // the worker peer sends no heartbeats
    start_broker_with(o);
    worker_ = worker("w1", 1);
  }
  void feed(const std::string& job, uint64_t from, uint64_t to) {
    for (uint64_t s = from; s < to; ++s) {
      auto entries = tokens(job, 1, s, s + 1);
      entries[0].text = token_text(s);
      worker_->send(sc::WorkerTokens{.entries = entries});
    }
  }
  // Streams tokens until the broker has lagged a client (or kMaxFed); then kAfterLag more
  // and the job's end. Returns the number of tokens in all.
  uint64_t stream_past_a_lag(const std::string& job) {
    uint64_t n = 0;
    while (loop_->counters().clients_lagged.load() == 0 && n < kMaxFed) {
      feed(job, n, n + 100);
      n += 100;
      // Give the loop a moment to forward what it got (and to find the queue full).
      eventually([&] { return loop_->counters().clients_lagged.load() > 0; }, 20);
    }
    EXPECT_GE(loop_->counters().clients_lagged.load(), 1u)
        << "the client was never lagged after " << n << " tokens";
    feed(job, n, n + kAfterLag);
    n += kAfterLag;
    worker_->send(sc::WorkerDone{.job_id = job,
                                 .attempt = 1,
                                 .device = 0,
                                 .usage = sc::Usage{.completion_tokens = static_cast<uint32_t>(n)},
                                 .finish_reason = "stop"});
    return n;
  }
  // wait()s for the job; every token must come once, in order, with its own text.
  static std::vector<uint64_t> wait_all(Client& c, const std::string& job, sc::JobRecord* out) {
    std::vector<uint64_t> seqs;
    auto rec = c.wait(
        job,
        [&](const sc::TokenEntry& e) {
          if (e.text != token_text(e.seq) || e.token != static_cast<int32_t>(100 + e.seq)) {
            ADD_FAILURE() << "seq " << e.seq << " carries another token";
          }
          seqs.push_back(e.seq);
        },
        60000);
    EXPECT_TRUE(rec.ok()) << rec.status().to_string();
    if (rec.ok()) *out = *rec;
    return seqs;
  }

  std::unique_ptr<broker::testing::Peer> worker_;
};

// The client reads nothing while its job streams and ends: its stream is cut off; wait()
// afterwards gets the `lagged` ERROR behind what was sent, subscribes again from its next
// seq and catches up from the log of the ended job.
TEST_F(ClientLaggedTest, WaitAfterTheJobEndedCatchesUpFromTheLog) {
  start();
  auto c = connect();
  auto a = c->submit(request(kMaxTokens));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  worker_->expect<sc::Dispatch>();
  const uint64_t n = stream_past_a_lag(a->job_id);
  ASSERT_TRUE(eventually(
      [&] {
        auto r = store_->load(a->job_id);
        return r.ok() && r->state == sc::JobState::kSucceeded;
      },
      30000));
  sc::JobRecord record;
  EXPECT_EQ(wait_all(*c, a->job_id, &record), range(0, n));
  EXPECT_EQ(record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(record.usage.completion_tokens, n);
}

// The client waits while the job streams: cut off mid-stream, wait() subscribes again to
// the live job (replay from the log, then live tokens) and goes on to the DONE.
TEST_F(ClientLaggedTest, WaitDuringTheStreamSubscribesAgainAndGoesOn) {
  start();
  auto c = connect();
  auto a = c->submit(request(kMaxTokens));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  worker_->expect<sc::Dispatch>();
  sc::JobRecord record;
  std::vector<uint64_t> seqs;
  std::thread waiter([&] { seqs = wait_all(*c, a->job_id, &record); });  // owns c from here
  const uint64_t n = stream_past_a_lag(a->job_id);
  waiter.join();
  EXPECT_EQ(seqs, range(0, n));
  EXPECT_EQ(record.state, sc::JobState::kSucceeded);
}

}  // namespace
}  // namespace lagged_test
}  // namespace rs::client::testing
