// The framing adapter over real sockets: round trips, limits, garbage, message boundaries.
#include "rs/wire/framing.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "rs/schemas/errors.h"
#include "rs/schemas/frames.h"
#include "wire_test_util.h"

namespace rs::wire {
namespace {

using schemas::ErrorCode;
using testing::recv_within;
using testing::router_limits;
using testing::RouterDealer;

TEST(FramingTest, RouterDealerRoundTripOfSchemasMessages) {
  RouterDealer link("client-7");
  schemas::SubmitRequest submit;
  submit.request_id = 42;
  submit.model = "tiny";
  submit.prompt = std::string("hello\0world", 11);
  ASSERT_EQ(send_frames(link.dealer, schemas::make_frames(submit)), SendStatus::kSent);

  Received in = recv_within(link.router, router_limits());
  ASSERT_EQ(in.status, RecvStatus::kMessage) << in.error.to_string();
  ASSERT_EQ(in.envelope.routing.size(), 1u);
  EXPECT_EQ(in.envelope.routing[0], "client-7");
  auto parsed = schemas::parse_frames(in.envelope.frames, schemas::Direction::kClientToBroker);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  const auto& got = std::get<schemas::SubmitRequest>(*parsed);
  EXPECT_EQ(got.request_id, 42u);
  EXPECT_EQ(got.model, "tiny");
  EXPECT_EQ(got.prompt, submit.prompt);

  schemas::Pong pong;
  pong.request_id = 42;
  pong.broker_time_ms = 7;
  ASSERT_EQ(send_message(link.router, in.envelope.routing, pong), SendStatus::kSent);
  Received back = recv_within(link.dealer, RecvLimits{});
  ASSERT_EQ(back.status, RecvStatus::kMessage);
  EXPECT_TRUE(back.envelope.routing.empty());
  ASSERT_EQ(back.envelope.frames.size(), 3u);
  auto reply = schemas::parse_frames(back.envelope.frames, schemas::Direction::kBrokerToClient);
  ASSERT_TRUE(reply.ok()) << reply.status().to_string();
  EXPECT_EQ(std::get<schemas::Pong>(*reply), pong);
}

TEST(FramingTest, InprocRoundTrip) {
  RouterDealer link("worker-a", "inproc://framing-test");
  EXPECT_EQ(link.endpoint, "inproc://framing-test");
  ASSERT_EQ(send_frames(link.dealer, schemas::make_frames(schemas::Ping{9})), SendStatus::kSent);
  Received in = recv_within(link.router, router_limits());
  ASSERT_EQ(in.status, RecvStatus::kMessage);
  EXPECT_EQ(in.envelope.routing, RoutingIds{"worker-a"});
  EXPECT_EQ(in.envelope.frames, schemas::make_frames(schemas::Ping{9}));
}

TEST(FramingTest, NothingToReadIsWouldBlock) {
  RouterDealer link;
  Received in = recv_frames(link.router, router_limits());
  EXPECT_EQ(in.status, RecvStatus::kWouldBlock);
  EXPECT_TRUE(in.error.ok());
}

TEST(FramingTest, OversizeMessageRejectedAndNextMessageIntact) {
  RouterDealer link("big");
  RecvLimits limits = router_limits();
  limits.max_total_bytes = 4096;
  schemas::Frames big{schemas::header_frame(), "\x01", std::string(3000, 'x'),
                      std::string(3000, 'y')};
  ASSERT_EQ(send_frames(link.dealer, big), SendStatus::kSent);
  ASSERT_EQ(send_frames(link.dealer, schemas::make_frames(schemas::Ping{1})), SendStatus::kSent);

  Received first = recv_within(link.router, limits);
  ASSERT_EQ(first.status, RecvStatus::kRejected);
  EXPECT_EQ(schemas::wire_error_of(first.error), ErrorCode::kTooLarge);
  EXPECT_EQ(first.envelope.routing, RoutingIds{"big"});  // so the broker can answer
  EXPECT_TRUE(first.envelope.frames.empty());

  Received second = recv_within(link.router, limits);
  ASSERT_EQ(second.status, RecvStatus::kMessage);
  EXPECT_EQ(second.envelope.frames, schemas::make_frames(schemas::Ping{1}));
}

TEST(FramingTest, TooManyFramesIsBadFrame) {
  RouterDealer link;
  schemas::Frames many(20, "f");
  ASSERT_EQ(send_frames(link.dealer, many), SendStatus::kSent);
  Received in = recv_within(link.router, router_limits());
  ASSERT_EQ(in.status, RecvStatus::kRejected);
  EXPECT_EQ(schemas::wire_error_of(in.error), ErrorCode::kBadFrame);
}

TEST(FramingTest, MissingRoutingFramesIsBadFrame) {
  RouterDealer link("peer");
  ASSERT_EQ(send_frames(link.dealer, schemas::Frames{"a", "b"}), SendStatus::kSent);
  RecvLimits limits;
  limits.n_routing = 4;  // the message has 1 routing + 2 payload frames
  Received in = recv_within(link.router, limits);
  ASSERT_EQ(in.status, RecvStatus::kRejected);
  EXPECT_EQ(schemas::wire_error_of(in.error), ErrorCode::kBadFrame);
}

TEST(FramingTest, EmptyFramesAreNotSent) {
  RouterDealer link;
  EXPECT_EQ(send_frames(link.dealer, schemas::Frames{}), SendStatus::kError);
}

TEST(FramingTest, GarbageFramesGiveTypedErrors) {
  RouterDealer link;
  const schemas::Frames cases[] = {
      {"garbage"},
      {"XXXX", "\x01", "body"},
      {std::string("RSP\x07", 4), "\x01", "\x80"},
      {schemas::header_frame(), "\x7f", "\x80"},
      {schemas::header_frame(), "\x01", "\xc1\xc1"},
  };
  const ErrorCode expected[] = {ErrorCode::kBadFrame, ErrorCode::kBadFrame, ErrorCode::kBadVersion,
                                ErrorCode::kUnknownCommand, ErrorCode::kBadMsgpack};
  for (size_t i = 0; i < std::size(cases); ++i) {
    ASSERT_EQ(send_frames(link.dealer, cases[i]), SendStatus::kSent);
    Received in = recv_within(link.router, router_limits());
    ASSERT_EQ(in.status, RecvStatus::kMessage) << i;
    auto parsed = schemas::parse_frames(in.envelope.frames);
    ASSERT_FALSE(parsed.ok()) << i;
    EXPECT_EQ(schemas::wire_error_of(parsed.status()), expected[i])
        << i << ": " << parsed.status().to_string();
  }
}

TEST(FramingTest, RandomMessagesNeverCrash) {
  RouterDealer link;
  RecvLimits limits = router_limits();
  limits.max_total_bytes = 512;
  std::mt19937 rng(1234);
  int n_message = 0;
  int n_rejected = 0;
  for (int i = 0; i < 300; ++i) {
    schemas::Frames frames(1 + rng() % 12);
    for (auto& frame : frames) {
      frame.resize(rng() % 200);
      for (auto& c : frame) c = static_cast<char>(rng());
    }
    ASSERT_EQ(send_frames(link.dealer, frames, IoMode::kBlock), SendStatus::kSent);
    Received in = recv_within(link.router, limits);
    ASSERT_NE(in.status, RecvStatus::kWouldBlock);
    ASSERT_NE(in.status, RecvStatus::kClosed);
    if (in.status == RecvStatus::kRejected) {
      ++n_rejected;
      const ErrorCode code = schemas::wire_error_of(in.error);
      EXPECT_TRUE(code == ErrorCode::kBadFrame || code == ErrorCode::kTooLarge);
      continue;
    }
    ++n_message;
    EXPECT_EQ(in.envelope.frames, frames);
    EXPECT_FALSE(schemas::parse_frames(in.envelope.frames).ok());
  }
  EXPECT_GT(n_message, 0);
  EXPECT_GT(n_rejected, 0);
}

TEST(FramingTest, SendStatusNames) {
  EXPECT_EQ(send_status_name(SendStatus::kSent), "sent");
  EXPECT_EQ(send_status_name(SendStatus::kWouldBlock), "would_block");
  EXPECT_EQ(send_status_name(SendStatus::kUnroutable), "unroutable");
}

}  // namespace
}  // namespace rs::wire
