// BridgeCore with a recording send and a manual clock: replies reach the right listener,
// job events fan out, subscriptions that fail are dropped, requests time out, and a broker
// that comes back gets every open stream subscribed again.
#include "bridge_core.h"

#include <gtest/gtest.h>

#include <vector>

#include "rs/schemas/errors.h"

namespace rs::gateway {
namespace {

class BridgeCoreTest : public ::testing::Test {
 protected:
  BridgeCoreTest()
      : core_(
            BridgeOptions{.request_timeout_ms = 100, .ping_interval_ms = 50, .broker_dead_ms = 200},
            [this](const BrokerRequest& r) -> Result<uint64_t> {
              if (!sendable_) return schemas::wire_error(schemas::ErrorCode::kUnavailable, "down");
              sent_.push_back(r);
              return ++next_id_;
            }) {}

  Listener record(std::vector<BridgeEvent>& into) {
    return [&into](BridgeEvent e) { into.push_back(std::move(e)); };
  }
  BridgeCommand command(BridgeCommand::Kind kind, uint64_t listener_id, Listener l,
                        std::string job = {}) {
    BridgeCommand c;
    c.kind = kind;
    c.listener_id = listener_id;
    c.listener = std::move(l);
    c.job_id = std::move(job);
    return c;
  }
  schemas::TokenEntry token(const std::string& job, uint64_t seq) {
    return schemas::TokenEntry{.job_id = job, .attempt = 1, .seq = seq, .token = 1, .text = "t"};
  }

  BridgeCore core_;
  std::vector<BrokerRequest> sent_;
  uint64_t next_id_ = 0;
  bool sendable_ = true;
};

TEST_F(BridgeCoreTest, ASubmitGetsItsAcceptedThenItsJobsTokensAndDone) {
  std::vector<BridgeEvent> a, b;
  core_.on_command(command(BridgeCommand::Kind::kSubmit, 1, record(a)), 0);
  core_.on_command(command(BridgeCommand::Kind::kSubmit, 2, record(b)), 0);
  ASSERT_EQ(sent_.size(), 2u);
  core_.on_message(schemas::Accepted{.request_id = 2, .job_id = "jb"}, 1);
  core_.on_message(schemas::Accepted{.request_id = 1, .job_id = "ja"}, 1);
  core_.on_message(schemas::TokenBatch{.entries = {token("ja", 0), token("jb", 0), token("ja", 1)}},
                   2);
  core_.on_message(
      schemas::Done{.record =
                        schemas::JobRecord{.job_id = "ja", .state = schemas::JobState::kSucceeded}},
      3);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].kind, BridgeEvent::Kind::kAccepted);
  EXPECT_EQ(a[0].job_id, "ja");
  EXPECT_EQ(a[1].kind, BridgeEvent::Kind::kTokens);
  EXPECT_EQ(a[1].tokens.size(), 2u);
  EXPECT_EQ(a[2].kind, BridgeEvent::Kind::kDone);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[1].tokens.size(), 1u);
  EXPECT_EQ(core_.jobs(), 1u);  // jb still streams
}

TEST_F(BridgeCoreTest, ARejectedSubmitAndAFailedSubscribeAreErrors) {
  std::vector<BridgeEvent> a, b;
  core_.on_command(command(BridgeCommand::Kind::kSubmit, 1, record(a)), 0);
  core_.on_message(
      schemas::Rejected{.request_id = 1, .code = schemas::ErrorCode::kQueueFull, .message = "full"},
      1);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(schemas::wire_error_of(a[0].error), schemas::ErrorCode::kQueueFull);
  core_.on_command(command(BridgeCommand::Kind::kSubscribe, 2, record(b), "nope"), 2);
  EXPECT_EQ(core_.jobs(), 1u);
  core_.on_message(
      schemas::ErrorReply{.request_id = 2, .code = schemas::ErrorCode::kNotFound, .message = "no"},
      3);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(schemas::wire_error_of(b[0].error), schemas::ErrorCode::kNotFound);
  EXPECT_EQ(core_.jobs(), 0u);
}

TEST_F(BridgeCoreTest, RequestsWithoutAReplyTimeOutAndAnUnsendableOneFailsAtOnce) {
  std::vector<BridgeEvent> a, b;
  core_.on_command(command(BridgeCommand::Kind::kStatus, 0, record(a), "j"), 0);
  core_.on_tick(50);
  EXPECT_TRUE(a.empty());
  core_.on_tick(101);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(schemas::wire_error_of(a[0].error), schemas::ErrorCode::kUnavailable);
  core_.on_message(schemas::StatusReply{.request_id = 1}, 102);  // late: dropped
  EXPECT_EQ(a.size(), 1u);
  sendable_ = false;
  core_.on_command(command(BridgeCommand::Kind::kWorkers, 0, record(b)), 103);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].kind, BridgeEvent::Kind::kError);
}

TEST_F(BridgeCoreTest, ABrokerThatComesBackGetsEveryOpenStreamSubscribedAgain) {
  std::vector<BridgeEvent> a;
  core_.on_command(command(BridgeCommand::Kind::kSubscribe, 1, record(a), "j1"), 0);
  core_.on_command(command(BridgeCommand::Kind::kSubmit, 2, record(a)), 0);
  core_.on_message(schemas::Accepted{.request_id = 2, .job_id = "j2"}, 1);
  sent_.clear();
  core_.on_link_lost();
  EXPECT_FALSE(core_.broker_up());
  core_.on_link_restored(10);
  EXPECT_TRUE(core_.broker_up());
  int subscribes = 0;
  for (const auto& r : sent_) {
    if (auto* s = std::get_if<schemas::SubscribeRequest>(&r)) {
      ++subscribes;
      EXPECT_EQ(s->from_seq, 0u);
    }
  }
  EXPECT_EQ(subscribes, 2);
  EXPECT_EQ(core_.resubscriptions(), 2u);
}

TEST_F(BridgeCoreTest, SilenceMarksTheBrokerDownAndAPongBringsItBack) {
  core_.on_tick(0);  // first ping
  ASSERT_FALSE(sent_.empty());
  core_.on_tick(300);
  EXPECT_FALSE(core_.broker_up());
  uint64_t ping_id = 0;
  for (size_t i = 0; i < sent_.size(); ++i) {
    if (std::holds_alternative<schemas::Ping>(sent_[i])) ping_id = i + 1;
  }
  core_.on_message(schemas::Pong{.request_id = ping_id}, 301);
  EXPECT_TRUE(core_.broker_up());
}

TEST_F(BridgeCoreTest, UnlistenStopsDeliveries) {
  std::vector<BridgeEvent> a;
  core_.on_command(command(BridgeCommand::Kind::kSubscribe, 7, record(a), "j"), 0);
  core_.on_command(command(BridgeCommand::Kind::kUnlisten, 7, nullptr), 1);
  core_.on_message(schemas::TokenBatch{.entries = {token("j", 0)}}, 2);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(core_.jobs(), 0u);
}

}  // namespace
}  // namespace rs::gateway
