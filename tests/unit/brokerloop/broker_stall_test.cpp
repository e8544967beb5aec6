// The broker and peers or a Redis that stall (issue 14): a client that stops answering (no
// message, every send to it failing for --client-timeout-ms) is treated as gone, while one
// that keeps PINGing is not; past --max-held-writes the broker stops dispatching until
// Redis has caught up. Real BrokerLoop, Redis (SIGSTOP / SIGCONT) and DEALER peers.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>

#include "broker_fixture.h"

namespace rs::broker::testing {
namespace {

class BrokerStallTest : public BrokerLoopTest {
 protected:
  static std::string inproc(const char* what) {
    return std::string("inproc://")
        .append(what)
        .append("-")
        .append(std::to_string(std::random_device{}()));
  }
  // Bounded poll of a condition (the loop runs in its thread).
  template <typename F>
  static bool soon(F&& f, int timeout_ms = 10000) {
    for (int waited = 0; waited < timeout_ms; waited += 5) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return f();
  }
  // Polls Redis until the job's state is `state`.
  bool state_becomes(const std::string& job, sc::JobState state) {
    return soon([&] {
      auto r = store_->load(job);
      return r.ok() && r->state == state;
    });
  }
};

// Inproc with 4-message queues on both ends: a client that does not read is cut off its
// streams (lagged) after a few TOKENS, and every later send to it (the `lagged` notice,
// retried each turn; PONGs) fails.
TEST_F(BrokerStallTest, AClientThatStopsAnsweringHasItsStreamingJobsCancelledUnlessDetached) {
  BrokerOptions o;
  o.client_endpoint = inproc("timeout");
  o.client_sndhwm = 4;
  o.client_timeout_ms = 1500;
  o.heartbeat_ms = 600000;  // the scripted worker sends no heartbeats
  start_broker_with(o);
  auto w = worker("w1", 3);
  Peer silent(ctx_, loop_->client_endpoint(), "silent", /*rcvhwm=*/4);
  Peer pinging(ctx_, loop_->client_endpoint(), "pinging", /*rcvhwm=*/4);
  silent.send(submit(1));
  const std::string streaming = silent.expect<sc::Accepted>().job_id;
  auto detached_request = submit(2);
  detached_request.detach = true;
  silent.send(detached_request);
  const std::string detached = silent.expect<sc::Accepted>().job_id;
  pinging.send(submit(3));
  const std::string kept = pinging.expect<sc::Accepted>().job_id;
  for (int i = 0; i < 3; ++i) w->expect<sc::Dispatch>();
  constexpr uint64_t kTokens = 64;  // more than both queues hold
  for (const std::string& job : {streaming, detached, kept}) {
    for (uint64_t s = 0; s < kTokens; ++s)
      w->send(sc::WorkerTokens{.entries = tokens(job, 1, s, s + 1)});
  }
  // `pinging` reads nothing either, but PINGs all along: only `silent` is timed out.
  uint64_t ping_id = 100;
  auto ping_while_waiting = [&](long wait_ms) -> std::optional<sc::CancelJob> {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (std::chrono::steady_clock::now() < end) {
      pinging.send(sc::Ping{.request_id = ++ping_id});
      if (auto m = w->recv(20)) {
        if (auto* cancel = std::get_if<sc::CancelJob>(&*m)) return *cancel;
        ADD_FAILURE() << "worker got " << sc::command_name(sc::message_command(*m));
      }
    }
    return std::nullopt;
  };
  std::optional<sc::CancelJob> cancel = ping_while_waiting(20000);
  ASSERT_TRUE(cancel.has_value()) << "the silent client's streaming job was never cancelled";
  EXPECT_EQ(cancel->job_id, streaming);
  EXPECT_EQ(loop_->counters().clients_timed_out.load(), 1u);
  EXPECT_EQ(loop_->counters().submitters_gone.load(), 1u);
  // Twice the timeout more: the PINGing client keeps its job, the detached one runs on.
  std::optional<sc::CancelJob> more = ping_while_waiting(2 * o.client_timeout_ms);
  EXPECT_FALSE(more.has_value()) << "job " << (more ? more->job_id : "") << " cancelled too";
  EXPECT_EQ(loop_->counters().clients_timed_out.load(), 1u);

  w->send(
      sc::WorkerDone{.job_id = streaming, .attempt = 1, .device = 0, .finish_reason = "cancelled"});
  EXPECT_TRUE(state_becomes(streaming, sc::JobState::kCancelled));
  for (const std::string& job : {detached, kept}) {
    w->send(sc::WorkerDone{.job_id = job, .attempt = 1, .device = 0, .finish_reason = "length"});
    EXPECT_TRUE(state_becomes(job, sc::JobState::kSucceeded)) << job;
  }
  // The PINGing client reads again: it was cut off its stream (lagged), subscribes again
  // and gets every token and the DONE.
  std::vector<uint64_t> seqs;
  bool lagged = false;
  std::optional<sc::Done> done;
  while (!done) {
    auto m = pinging.recv(10000);
    ASSERT_TRUE(m.has_value()) << "stream stalled after " << seqs.size() << " tokens";
    if (auto* t = std::get_if<sc::TokenBatch>(&*m)) {
      for (const auto& e : t->entries) {
        if (e.seq == seqs.size()) seqs.push_back(e.seq);
      }
    } else if (auto* err = std::get_if<sc::ErrorReply>(&*m)) {
      ASSERT_EQ(err->code, sc::ErrorCode::kLagged) << err->message;
      lagged = true;
      pinging.send(sc::SubscribeRequest{.request_id = 2, .job_id = kept, .from_seq = seqs.size()});
    } else if (auto* d = std::get_if<sc::Done>(&*m)) {
      done = *d;
    }
  }
  EXPECT_TRUE(lagged);
  EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(seqs.size(), kTokens);
}

// Past --max-held-writes held Redis commands the broker dispatches nothing (the running job
// streams on); once Redis answers and the held writes are applied, the queued jobs go out.
TEST_F(BrokerStallTest, PastMaxHeldWritesDispatchPausesUntilRedisCatchesUp) {
  BrokerOptions o;
  o.max_held_writes = 8;
  o.store_timeout_ms = 200;
  o.heartbeat_ms = 600000;  // the scripted worker sends no heartbeats
  start_broker_with(o);
  auto w = worker("w1", 1);
  auto c = client("c1");
  std::vector<std::string> jobs;
  for (uint64_t id = 1; id <= 3; ++id) {
    c->send(submit(id));
    jobs.push_back(c->expect<sc::Accepted>().job_id);
  }
  EXPECT_EQ(w->expect<sc::Dispatch>().job_id, jobs[0]);  // one slot: jobs 1 and 2 queue
  redis_.pause();
  // The running job's token writes are held until they pass the bound.
  uint64_t sent = 0;
  while (loop_->counters().dispatch_pauses.load() == 0 && sent < 2000) {
    w->send(sc::WorkerTokens{.entries = tokens(jobs[0], 1, sent, sent + 1)});
    ++sent;
    soon([&] { return loop_->counters().dispatch_pauses.load() != 0; }, 20);
  }
  ASSERT_EQ(loop_->counters().dispatch_pauses.load(), 1u);
  // Its slot frees: nothing is dispatched. (Without the pause the DISPATCH would be staged
  // in the DONE's own turn, right after `finished` counts it; it would reach the worker
  // only once Redis answers, behind its DISPATCHED write.)
  ASSERT_EQ(loop_->counters().dispatched.load(), 1u);
  w->send(sc::WorkerDone{.job_id = jobs[0], .attempt = 1, .device = 0, .finish_reason = "length"});
  ASSERT_TRUE(soon([&] { return loop_->counters().finished.load() == 1; }));
  EXPECT_FALSE(soon([&] { return loop_->counters().dispatched.load() > 1; }, 500))
      << "dispatched while paused";
  EXPECT_GE(loop_->counters().held_commands.load(), o.max_held_writes);
  redis_.resume();
  for (size_t i = 1; i < jobs.size(); ++i) {
    auto dispatch = w->expect<sc::Dispatch>(20000);
    EXPECT_EQ(dispatch.job_id, jobs[i]);
    w->send(sc::WorkerTokens{.entries = tokens(jobs[i], 1, 0, 2)});
    w->send(
        sc::WorkerDone{.job_id = jobs[i], .attempt = 1, .device = 0, .finish_reason = "length"});
  }
  for (const std::string& job : jobs) {
    EXPECT_TRUE(state_becomes(job, sc::JobState::kSucceeded)) << job;
  }
  // The client saw each job to its end, the first one with every token.
  size_t dones = 0;
  std::vector<uint64_t> first_seqs;
  while (dones < jobs.size()) {
    auto msg = c->recv(10000);
    ASSERT_TRUE(msg.has_value()) << dones << " DONEs";
    if (auto* t = std::get_if<sc::TokenBatch>(&*msg)) {
      for (const auto& e : t->entries) {
        if (e.job_id == jobs[0]) first_seqs.push_back(e.seq);
      }
    } else if (auto* d = std::get_if<sc::Done>(&*msg)) {
      EXPECT_EQ(d->record.state, sc::JobState::kSucceeded);
      ++dones;
    }
  }
  EXPECT_EQ(first_seqs.size(), sent);
  EXPECT_EQ(loop_->counters().dispatched.load(), jobs.size());
}

}  // namespace
}  // namespace rs::broker::testing
