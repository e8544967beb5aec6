// Acceptance (issue 3): malformed input on the broker's sockets (garbage frames, wrong
// protocol version, truncated msgpack, oversize frames, unknown commands, an unknown model)
// gets typed ERROR / REJECTED replies, and the broker keeps serving real jobs afterwards.
// Raw DEALERs (WirePeer) against the real ringserve-broker.
#include <gtest/gtest.h>

#include <string>
#include <vector>
#include <zmq.hpp>

#include "process_harness.h"
#include "wire_peer.h"

namespace rs::test {
namespace {

namespace sc = rs::schemas;

class PoolMalformedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PoolOptions o;
    o.workers = 1;
    o.devices = 1;
    pool_ = std::make_unique<Pool>(o);
    RS_REQUIRE_POOL(*pool_);
    ASSERT_TRUE(pool_->start()) << "pool did not start";
    peer_ = std::make_unique<WirePeer>(ctx_, pool_->client_endpoint());
    ASSERT_TRUE(peer_->ok());
  }
  void TearDown() override {
    if (!pool_ || pool_->missing()) return;
    // Whatever came before, the broker still serves a real job end to end.
    EXPECT_TRUE(pool_->broker_process().alive()) << "the broker died";
    auto c = pool_->connect(10000);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->ping().ok()) << "the broker stopped answering";
    auto a = (*c)->submit(make_request(pool_->model_name(), "after the garbage", 8));
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    FinishedJob f = wait_job(**c, a->job_id, 30000);
    ASSERT_TRUE(f.status.ok()) << f.status.to_string();
    EXPECT_EQ(f.record.state, sc::JobState::kSucceeded);
    EXPECT_EQ(f.tokens.size(), f.record.usage.completion_tokens);
  }

  // Sends raw frames; the reply must be ERROR or REJECTED with `code`. Returns it.
  std::optional<sc::Message> expect_refused(const sc::Frames& frames, sc::ErrorCode code,
                                            WirePeer* peer = nullptr) {
    if (peer == nullptr) peer = peer_.get();
    EXPECT_TRUE(peer->send_raw(frames));
    auto m = peer->recv(5000);
    EXPECT_TRUE(m.has_value()) << "no reply; expected " << sc::error_code_name(code)
                               << (peer->parse_error().empty() ? "" : " (unparsable reply: " + peer->parse_error() + ")");
    if (!m) return m;
    std::optional<sc::ErrorCode> got;
    if (auto* e = std::get_if<sc::ErrorReply>(&*m)) got = e->code;
    if (auto* r = std::get_if<sc::Rejected>(&*m)) got = r->code;
    EXPECT_TRUE(got.has_value()) << "expected a typed error, got " << describe(m);
    if (got) {
      EXPECT_EQ(*got, code) << describe(m);
    }
    return m;
  }
  static sc::Frames frames(std::string header, uint8_t command, std::string body) {
    return sc::Frames{std::move(header), std::string(1, static_cast<char>(command)), std::move(body)};
  }
  static std::string submit_body(uint64_t request_id, const std::string& model) {
    sc::SubmitRequest r = make_request(model, "hello", 4);
    r.request_id = request_id;
    return sc::encode(r);
  }

  zmq::context_t ctx_{1};
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<WirePeer> peer_;
};

TEST_F(PoolMalformedTest, GarbageFramesAreBadFrame) {
  expect_refused(sc::Frames{"garbage"}, sc::ErrorCode::kBadFrame);
  expect_refused(frames("XYZW", 0x01, submit_body(1, "tiny")), sc::ErrorCode::kBadFrame);
  expect_refused(frames("RS", 0x01, submit_body(1, "tiny")), sc::ErrorCode::kBadFrame);
  expect_refused(sc::Frames{sc::header_frame(), std::string("\x01\x01", 2), submit_body(1, "tiny")},
                 sc::ErrorCode::kBadFrame);
  expect_refused(sc::Frames{sc::header_frame(), std::string(1, '\x06'), sc::encode(sc::Ping{}), "extra"},
                 sc::ErrorCode::kBadFrame);
}

TEST_F(PoolMalformedTest, WrongProtocolVersionIsBadVersion) {
  auto m = expect_refused(frames(std::string("RSP\x02", 4), 0x06, sc::encode(sc::Ping{.request_id = 3})),
                          sc::ErrorCode::kBadVersion);
  if (auto* e = m ? std::get_if<sc::ErrorReply>(&*m) : nullptr) {
    EXPECT_NE(e->message.find('2'), std::string::npos) << "the message should name both versions: " << e->message;
  }
}

TEST_F(PoolMalformedTest, BrokenMsgpackIsBadMsgpack) {
  std::string body = submit_body(5, pool_->model_name());
  expect_refused(frames(sc::header_frame(), 0x01, body.substr(0, body.size() - 3)), sc::ErrorCode::kBadMsgpack);
  expect_refused(frames(sc::header_frame(), 0x01, std::string("\x05", 1)), sc::ErrorCode::kBadMsgpack);  // an int
  expect_refused(frames(sc::header_frame(), 0x01, body + "\x01"), sc::ErrorCode::kBadMsgpack);  // trailing bytes
  expect_refused(frames(sc::header_frame(), 0x04, std::string("\x81\xa6job_id\x07", 9)),  // job_id: int
                 sc::ErrorCode::kBadMsgpack);
}

TEST_F(PoolMalformedTest, OversizeFramesAreTooLargeOrDropped) {
  // Over max_frame_bytes (4 MiB) but under ZMQ_MAXMSGSIZE: the broker answers too_large.
  expect_refused(frames(sc::header_frame(), 0x01, std::string((4u << 20) + 100, 'x')),
                 sc::ErrorCode::kTooLarge);
  // Far over: either answered too_large or (over the socket's ZMQ_MAXMSGSIZE) dropped by
  // ZeroMQ with the connection, unseen by the broker. Never anything else.
  for (size_t mib : {5u, 10u}) {
    WirePeer big(ctx_, pool_->client_endpoint());
    ASSERT_TRUE(big.send_raw(frames(sc::header_frame(), 0x01, std::string(mib << 20, 'x'))));
    auto reply = big.recv(1000);
    if (reply) {
      auto* e = std::get_if<sc::ErrorReply>(&*reply);
      EXPECT_TRUE(e != nullptr && e->code == sc::ErrorCode::kTooLarge) << mib << " MiB: " << describe(reply);
    }
  }
  // A prompt over its own limit is prompt_too_long.
  sc::SubmitRequest r = make_request(pool_->model_name(), std::string((1u << 20) + 1, 'p'), 4);
  r.request_id = 9;
  expect_refused(frames(sc::header_frame(), 0x01, sc::encode(r)), sc::ErrorCode::kPromptTooLong);
}

TEST_F(PoolMalformedTest, UnknownOrMisdirectedCommandsAreUnknownCommand) {
  expect_refused(frames(sc::header_frame(), 0x7f, sc::encode(sc::Ping{})), sc::ErrorCode::kUnknownCommand);
  expect_refused(frames(sc::header_frame(), 0x00, sc::encode(sc::Ping{})), sc::ErrorCode::kUnknownCommand);
  // A worker's READY and a broker's ACCEPTED on the client socket.
  sc::WorkerReady ready;
  ready.worker_id = "intruder";
  expect_refused(sc::make_frames(ready), sc::ErrorCode::kUnknownCommand);
  sc::Accepted accepted;
  accepted.job_id = "x";
  expect_refused(sc::make_frames(accepted), sc::ErrorCode::kUnknownCommand);
}

TEST_F(PoolMalformedTest, BadRequestsAreTypedRejections) {
  auto m = expect_refused(frames(sc::header_frame(), 0x01, submit_body(77, "no-such-model")),
                          sc::ErrorCode::kUnknownModel);
  if (auto* r = m ? std::get_if<sc::Rejected>(&*m) : nullptr) {
    EXPECT_EQ(r->request_id, 77u);
  }
  // A SUBMIT without its prompt, and one with max_tokens 0.
  expect_refused(frames(sc::header_frame(), 0x01, std::string("\x82\xaarequest_id\x08\xa5model\xa4tiny")),
                 sc::ErrorCode::kInvalidArgument);
  sc::SubmitRequest zero = make_request(pool_->model_name(), "hello", 4);
  zero.max_tokens = 0;
  expect_refused(sc::Frames{sc::header_frame(), std::string(1, '\x01'), sc::encode(zero)},
                 sc::ErrorCode::kInvalidArgument);
  expect_refused(sc::make_frames(sc::StatusRequest{.request_id = 4, .job_id = "nope"}), sc::ErrorCode::kNotFound);
  expect_refused(sc::make_frames(sc::CancelRequest{.request_id = 5, .job_id = "nope"}), sc::ErrorCode::kNotFound);
}

// docs/PROTOCOL.md "Packed form": a peer that packs its messages is answered packed, one
// that sends three frames (the Python example) is answered in three; a packed message is
// judged as its three frames would be.
TEST_F(PoolMalformedTest, EachPeerIsAnsweredInTheFormItUses) {
  const sc::Frames ping = sc::make_frames(sc::Ping{.request_id = 11});
  ASSERT_TRUE(peer_->send_raw(ping, wire::Framing::kPacked));
  std::vector<std::string> parts = peer_->recv_parts(5000);
  ASSERT_EQ(parts.size(), 1u) << "a packed PING gets a packed PONG";
  sc::Frames reply{parts[0]};
  ASSERT_TRUE(sc::unpack_frames(reply));
  auto pong = sc::parse_frames(reply, sc::Direction::kBrokerToClient);
  ASSERT_TRUE(pong.ok()) << pong.status().to_string();
  EXPECT_EQ(std::get<sc::Pong>(*pong).request_id, 11u);

  WirePeer classic(ctx_, pool_->client_endpoint());
  ASSERT_TRUE(classic.ok());
  ASSERT_TRUE(classic.send_raw(ping));
  parts = classic.recv_parts(5000);
  ASSERT_EQ(parts.size(), 3u) << "three frames in, three frames out";
  EXPECT_EQ(parts[0], sc::header_frame());

  WirePeer packer(ctx_, pool_->client_endpoint());
  ASSERT_TRUE(packer.ok());
  auto check_packed = [&](const sc::Frames& frames, sc::ErrorCode code) {
    ASSERT_TRUE(packer.send_raw(frames, wire::Framing::kPacked));
    auto m = packer.recv(5000);
    ASSERT_TRUE(m.has_value()) << packer.parse_error();
    auto* e = std::get_if<sc::ErrorReply>(&*m);
    ASSERT_NE(e, nullptr) << describe(m);
    EXPECT_EQ(e->code, code) << describe(m);
  };
  check_packed(frames(std::string("RSP\x02", 4), 0x06, sc::encode(sc::Ping{.request_id = 3})),
               sc::ErrorCode::kBadVersion);
  check_packed(frames(sc::header_frame(), 0x01, "\xc1"), sc::ErrorCode::kBadMsgpack);
  check_packed(sc::Frames{"RSP"}, sc::ErrorCode::kBadFrame);  // too short to hold a command
}

TEST_F(PoolMalformedTest, GarbageOnTheWorkerSocketDoesNotHurt) {
  WirePeer rogue(ctx_, pool_->worker_endpoint(), "rogue");
  ASSERT_TRUE(rogue.ok());
  rogue.send_raw(sc::Frames{"garbage"});
  rogue.send_raw(frames(std::string("RSP\x09", 4), 0x21, "x"));
  rogue.send_raw(frames(sc::header_frame(), 0x21, "\xc1"));
  rogue.send_raw(sc::make_frames(sc::Ping{.request_id = 1}));  // a client command
  sc::WorkerDone done;
  done.job_id = "never-dispatched";
  done.attempt = 1;
  rogue.send_raw(sc::make_frames(done));
  rogue.recv(300);  // whatever the broker answers (ERROR / nothing), it must keep serving
  EXPECT_EQ(pool_->devices().size(), 1u) << "the real worker's device should still be listed";
}

}  // namespace
}  // namespace rs::test
