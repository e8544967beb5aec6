// BrokerBridge's threads against an in-process BrokerLoop (real Redis) and a worker peer
// the test drives: commands posted from this thread, events delivered on the bridge thread
// (collected under a mutex here). Run under ThreadSanitizer in CI.
#include "broker_bridge.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "../brokerloop/broker_fixture.h"

namespace rs::gateway {
namespace {

namespace sc = rs::schemas;

// Events from the bridge thread, waited for on the test thread.
class Inbox {
 public:
  Listener listener() {
    return [this](BridgeEvent e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(e));
      cv_.notify_all();
    };
  }
  // Waits until an event of `kind` arrived; returns it (removing it and those before it).
  std::optional<BridgeEvent> next(BridgeEvent::Kind kind, int timeout_ms = 10000) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<BridgeEvent> out;
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
      for (size_t i = 0; i < events_.size(); ++i) {
        if (events_[i].kind != kind) continue;
        out = events_[i];
        seen_.insert(seen_.end(), events_.begin(), events_.begin() + static_cast<long>(i) + 1);
        events_.erase(events_.begin(), events_.begin() + static_cast<long>(i) + 1);
        return true;
      }
      return false;
    });
    return out;
  }
  std::vector<BridgeEvent> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<BridgeEvent> events_, seen_;
};

class BrokerBridgeTest : public broker::testing::BrokerLoopTest {
 protected:
  std::unique_ptr<BrokerBridge> bridge() {
    client::ClientOptions o;
    o.endpoint = loop_->client_endpoint();
    auto b = std::make_unique<BrokerBridge>(o, BridgeOptions{.request_timeout_ms = 2000});
    EXPECT_TRUE(b->start().ok());
    return b;
  }
  static BridgeCommand command(BridgeCommand::Kind kind, Listener l, std::string job = {},
                               uint64_t listener_id = 0) {
    BridgeCommand c;
    c.kind = kind;
    c.listener = std::move(l);
    c.job_id = std::move(job);
    c.listener_id = listener_id;
    return c;
  }
};

TEST_F(BrokerBridgeTest, ASubmitStreamsItsTokensAndDoneToItsListener) {
  start_broker();
  auto w = worker("w1", 2);
  auto b = bridge();
  Inbox inbox;
  BridgeCommand submit =
      command(BridgeCommand::Kind::kSubmit, inbox.listener(), {}, b->new_listener_id());
  submit.submit = broker::testing::BrokerLoopTest::submit(0);
  b->post(std::move(submit));
  auto accepted = inbox.next(BridgeEvent::Kind::kAccepted);
  ASSERT_TRUE(accepted.has_value());
  auto dispatch = w->expect<sc::Dispatch>();
  ASSERT_EQ(dispatch.job_id, accepted->job_id);
  w->send(sc::WorkerTokens{.entries = tokens(dispatch.job_id, dispatch.attempt, 0, 4)});
  w->send(sc::WorkerDone{.job_id = dispatch.job_id,
                         .attempt = dispatch.attempt,
                         .device = dispatch.device,
                         .usage = sc::Usage{.prompt_tokens = 1, .completion_tokens = 4},
                         .finish_reason = "length"});
  auto done = inbox.next(BridgeEvent::Kind::kDone);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->record.state, sc::JobState::kSucceeded);
  EXPECT_EQ(done->record.finish_reason, "length");
  std::vector<uint64_t> seqs;
  for (const auto& e : inbox.seen()) {
    for (const auto& t : e.tokens) seqs.push_back(t.seq);
  }
  EXPECT_EQ(seqs, (std::vector<uint64_t>{0, 1, 2, 3}));
}

TEST_F(BrokerBridgeTest, ErrorsAndOneShotAnswersReachTheirListeners) {
  start_broker();
  auto b = bridge();
  Inbox inbox;
  BridgeCommand submit =
      command(BridgeCommand::Kind::kSubmit, inbox.listener(), {}, b->new_listener_id());
  submit.submit = broker::testing::BrokerLoopTest::submit(0, "no-such-model");
  b->post(std::move(submit));
  auto rejected = inbox.next(BridgeEvent::Kind::kError);
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(sc::wire_error_of(rejected->error), sc::ErrorCode::kUnknownModel);
  b->post(command(BridgeCommand::Kind::kStatus, inbox.listener(), "j-nope"));
  auto missing = inbox.next(BridgeEvent::Kind::kError);
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(sc::wire_error_of(missing->error), sc::ErrorCode::kNotFound);
  b->post(command(BridgeCommand::Kind::kWorkers, inbox.listener()));
  EXPECT_TRUE(inbox.next(BridgeEvent::Kind::kWorkers).has_value());
  EXPECT_TRUE(b->broker_up());
}

// Many threads post at once (the HTTP side may have several); every answer arrives.
TEST_F(BrokerBridgeTest, ConcurrentPostersAllGetTheirAnswers) {
  start_broker();
  auto b = bridge();
  constexpr int kThreads = 4, kEach = 25;
  std::vector<Inbox> inboxes(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        b->post(command(BridgeCommand::Kind::kWorkers, inboxes[static_cast<size_t>(t)].listener()));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& inbox : inboxes) {
    for (int i = 0; i < kEach; ++i)
      ASSERT_TRUE(inbox.next(BridgeEvent::Kind::kWorkers).has_value());
  }
}

}  // namespace
}  // namespace rs::gateway
