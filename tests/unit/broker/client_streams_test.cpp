#include "rs/broker/client_streams.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace client_streams_test {
namespace {

using rs::broker::ClientStreams;

const std::vector<std::string> kClient{"c"};

TEST(ClientStreams, EveryPostGoesWhileNothingIsCut) {
  ClientStreams s;
  const uint64_t a = s.next_post();
  const uint64_t b = s.next_post();
  EXPECT_LT(a, b);
  EXPECT_TRUE(s.may_send("c", "j", a));
  EXPECT_TRUE(s.idle());
}

// The race a held turn makes: messages posted before the lag wait for their turn's writes;
// the client is lagged by an earlier one, subscribes again, and only then do they come up
// to be sent. They must not go: they would overtake the new subscription's replay.
TEST(ClientStreams, AfterALagOnlyWhatTheNewSubscriptionPostsGoes) {
  ClientStreams s;
  const uint64_t sent = s.next_post();
  const uint64_t held1 = s.next_post();
  const uint64_t held2 = s.next_post();
  EXPECT_TRUE(s.may_send("c", "j", sent));
  s.on_lagged(kClient, "j", 15);  // the send of `held1`'s predecessor found the queue full
  EXPECT_TRUE(s.lagged("c", "j"));
  EXPECT_FALSE(s.may_send("c", "j", held1));
  EXPECT_TRUE(s.may_send("c", "other-job", held1));  // other streams are untouched
  EXPECT_TRUE(s.may_send("d", "j", held1));          // and other clients
  const uint64_t sub = s.on_subscribe("c", "j", /*replay=*/true);
  EXPECT_FALSE(s.lagged("c", "j"));
  EXPECT_FALSE(s.may_send("c", "j", held2)) << "posted to the old subscription";
  const uint64_t replay = s.next_post();
  const uint64_t live = s.next_post();
  EXPECT_TRUE(s.may_send("c", "j", replay));
  EXPECT_TRUE(s.may_send("c", "j", live));
  EXPECT_TRUE(s.is_current("c", "j", sub));
  EXPECT_TRUE(s.replay_pending("c", "j"));
  s.replay_sent("c", "j");
  EXPECT_FALSE(s.replay_pending("c", "j"));
}

TEST(ClientStreams, ARepeatedSubscribeReplacesTheEarlierOneAndItsPendingReplay) {
  ClientStreams s;
  const uint64_t first = s.on_subscribe("c", "j", /*replay=*/true);
  const uint64_t old_post = s.next_post();
  const uint64_t second = s.on_subscribe("c", "j", /*replay=*/false);
  EXPECT_FALSE(s.is_current("c", "j", first)) << "the first one's replay is not answered";
  EXPECT_TRUE(s.is_current("c", "j", second));
  EXPECT_FALSE(s.replay_pending("c", "j"));
  EXPECT_FALSE(s.may_send("c", "j", old_post));
  EXPECT_TRUE(s.may_send("c", "j", s.next_post()));
}

TEST(ClientStreams, NoticesWaitForRoomAndGoWithTheClient) {
  ClientStreams s;
  s.on_lagged(kClient, "j1", 3);
  s.on_lagged(std::vector<std::string>{"d"}, "j2", 7);
  EXPECT_EQ(s.n_notices(), 2u);
  std::vector<uint64_t> sent;
  s.send_notices([&](const ClientStreams::LagNotice& n) {
    if (n.peer.front() == "d") return false;  // its queue is still full
    sent.push_back(n.next_seq);
    return true;
  });
  EXPECT_EQ(sent, std::vector<uint64_t>{3});
  EXPECT_EQ(s.n_notices(), 1u);
  s.drop_client("d");
  EXPECT_EQ(s.n_notices(), 0u);
  EXPECT_FALSE(s.idle());  // the cuts stay until their jobs end
  s.forget_ended([](const std::string& job) { return job == "j2"; });
  EXPECT_FALSE(s.lagged("c", "j1"));
  EXPECT_TRUE(s.lagged("d", "j2"));
  s.forget_ended([](const std::string&) { return false; });
  EXPECT_TRUE(s.idle());
}

// A client SUBSCRIBEs again before the `lagged` notice of its old stream went out (its
// queue was full, or it subscribed on its own): the notice is moot and is not sent.
TEST(ClientStreams, ASubscribeDropsThePendingNoticeOfTheStreamItReplaces) {
  ClientStreams s;
  s.on_lagged(kClient, "j", 7);
  s.on_lagged(kClient, "k", 3);
  (void)s.on_subscribe("c", "j", /*replay=*/true);
  std::vector<std::string> sent;
  s.send_notices([&](const ClientStreams::LagNotice& n) {
    sent.push_back(n.job);
    return true;
  });
  EXPECT_EQ(sent, std::vector<std::string>{"k"});
}

TEST(ClientStreams, HeldRepliesGoInOrderOnceThereIsRoomAndAreBounded) {
  ClientStreams s;
  EXPECT_FALSE(s.has_held_replies("c"));
  EXPECT_TRUE(s.hold_reply(kClient, {"accepted-1"}));
  EXPECT_TRUE(s.hold_reply(kClient, {"accepted-2"}));
  EXPECT_TRUE(s.has_held_replies("c"));
  EXPECT_FALSE(s.idle());
  std::vector<std::string> sent;
  int room = 1;
  s.send_held_replies([&](const ClientStreams::HeldReply& r) {
    if (room == 0) return false;
    --room;
    sent.push_back(r.frames.front());
    return true;
  });
  EXPECT_EQ(sent, std::vector<std::string>{"accepted-1"});
  EXPECT_EQ(s.n_held_replies(), 1u);
  room = 5;
  s.send_held_replies([&](const ClientStreams::HeldReply& r) {
    sent.push_back(r.frames.front());
    return true;
  });
  EXPECT_EQ(sent, (std::vector<std::string>{"accepted-1", "accepted-2"}));
  EXPECT_FALSE(s.has_held_replies("c"));
  EXPECT_TRUE(s.idle());
  for (size_t i = 0; i < ClientStreams::kMaxHeldReplies; ++i) {
    ASSERT_TRUE(s.hold_reply(kClient, {"r"}));
  }
  EXPECT_FALSE(s.hold_reply(kClient, {"one too many"}));  // dropped, counted by the loop
  s.drop_client("c");
  EXPECT_FALSE(s.has_held_replies("c"));
}

}  // namespace
}  // namespace client_streams_test
