// The packed form (docs/PROTOCOL.md "Packed form"): one frame carrying header, command and
// body, split back into three by every receiver; and PeerFraming, which answers each peer
// in the form it uses.
#include <gtest/gtest.h>

#include <string>

#include "rs/schemas/errors.h"
#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/peer_framing.h"
#include "wire_test_util.h"

namespace rs::wire {
namespace {

using testing::recv_within;
using testing::router_limits;
using testing::RouterDealer;

// The raw parts of the next message, as ZeroMQ delivers them (no unpacking).
std::vector<std::string> raw_parts(zmq::socket_t& socket) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(5000)), 1);
  std::vector<std::string> parts;
  for (;;) {
    zmq::message_t part;
    EXPECT_TRUE(socket.recv(part, zmq::recv_flags::none).has_value());
    parts.emplace_back(part.data<char>(), part.size());
    if (!part.more()) return parts;
  }
}

TEST(PackedFramingTest, APackedMessageIsOneFrameAndComesOutAsThree) {
  RouterDealer link("client-p");
  schemas::SubmitRequest submit;
  submit.request_id = 5;
  submit.model = "tiny";
  submit.prompt = std::string("RSP\0\x01 in a prompt", 17);
  const schemas::Frames frames = schemas::make_frames(submit);
  ASSERT_EQ(send_frames(link.dealer, frames, IoMode::kDontWait, Framing::kPacked),
            SendStatus::kSent);
  std::vector<std::string> parts = raw_parts(link.router);
  ASSERT_EQ(parts.size(), 2u);  // the routing id, then one payload frame
  EXPECT_EQ(parts[1], frames[0] + frames[1] + frames[2]);

  ASSERT_EQ(send_frames(link.dealer, frames, IoMode::kDontWait, Framing::kPacked),
            SendStatus::kSent);
  Received in = recv_within(link.router, router_limits());
  ASSERT_EQ(in.status, RecvStatus::kMessage) << in.error.to_string();
  EXPECT_TRUE(in.envelope.packed);
  EXPECT_EQ(in.envelope.frames, frames);
  auto parsed = schemas::parse_frames(in.envelope.frames, schemas::Direction::kClientToBroker);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(std::get<schemas::SubmitRequest>(*parsed).prompt, submit.prompt);
}

TEST(PackedFramingTest, ARouterSendsPackedBehindTheRoutingId) {
  RouterDealer link("worker-p");
  ASSERT_EQ(send_frames(link.dealer, schemas::make_frames(schemas::Ping{1})), SendStatus::kSent);
  Received in = recv_within(link.router, router_limits());
  ASSERT_EQ(in.status, RecvStatus::kMessage);
  EXPECT_FALSE(in.envelope.packed);  // three frames stay three frames
  schemas::Pong pong{.request_id = 1, .broker_time_ms = 9};
  ASSERT_EQ(
      send_message(link.router, in.envelope.routing, pong, IoMode::kDontWait, Framing::kPacked),
      SendStatus::kSent);
  std::vector<std::string> parts = raw_parts(link.dealer);
  ASSERT_EQ(parts.size(), 1u);
  const schemas::Frames expected = schemas::to_frames(pong);
  EXPECT_EQ(parts[0], expected[0] + expected[1] + expected[2]);
  // make_router sets ROUTER_MANDATORY: an unknown peer is unroutable, as with three frames.
  EXPECT_EQ(send_frames(link.router, {"nobody"}, expected, IoMode::kDontWait, Framing::kPacked),
            SendStatus::kUnroutable);
}

TEST(PackedFramingTest, OnlyOneFrameWithTheMagicAndACommandIsSplit) {
  schemas::Frames packed{std::string("RSP\x01\x06", 5) + "body"};
  EXPECT_TRUE(schemas::unpack_frames(packed));
  EXPECT_EQ(packed, (schemas::Frames{std::string("RSP\x01", 4), "\x06", "body"}));

  schemas::Frames empty_body{std::string("RSP\x07\x06", 5)};  // another version: parse judges it
  EXPECT_TRUE(schemas::unpack_frames(empty_body));
  EXPECT_EQ(empty_body[2], "");
  auto parsed = schemas::parse_frames(empty_body);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(schemas::wire_error_of(parsed.status()), schemas::ErrorCode::kBadVersion);

  for (schemas::Frames left :
       {schemas::Frames{std::string("RSP\x01", 4)}, schemas::Frames{"XYZ\x01\x06"},
        schemas::Frames{""}, schemas::Frames{"RSP\x01\x06", "x"}}) {
    schemas::Frames before = left;
    EXPECT_FALSE(schemas::unpack_frames(left));
    EXPECT_EQ(left, before);
    EXPECT_FALSE(schemas::parse_frames(left).ok());
  }
}

TEST(PeerFramingTest, PeersAreAnsweredInTheFormTheyUseAndTheSetIsBounded) {
  PeerFraming framing(2);
  EXPECT_EQ(framing.framing_for({"a"}), Framing::kFrames);
  framing.note({"a"}, true);
  framing.note({"b"}, true);
  EXPECT_EQ(framing.framing_for({"a"}), Framing::kPacked);
  EXPECT_EQ(framing.framing_for({"c"}), Framing::kFrames);
  framing.note({"a"}, false);  // a peer that goes back to three frames gets three frames
  EXPECT_EQ(framing.framing_for({"a"}), Framing::kFrames);
  framing.note({"a"}, true);
  framing.note({"c"}, true);  // over the bound: forget everyone, keep the newcomer
  EXPECT_EQ(framing.size(), 1u);
  EXPECT_EQ(framing.framing_for({"c"}), Framing::kPacked);
  EXPECT_EQ(framing.framing_for({"a"}), Framing::kFrames);
  EXPECT_EQ(framing.framing_for({}), Framing::kFrames);
}

}  // namespace
}  // namespace rs::wire
