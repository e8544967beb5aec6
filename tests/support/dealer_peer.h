// DealerPeer: a DEALER on loopback for unit tests that play a client or a scripted worker
// against a real BrokerLoop: blocking sends, bounded-wait receives that skip broker
// heartbeats unless told not to. Test thread only.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <variant>
#include <zmq.hpp>

#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::test {

namespace sc = rs::schemas;

class DealerPeer {
 public:
  // default_timeout_ms: what recv()/expect() wait when given no timeout (or a negative one).
  DealerPeer(zmq::context_t& ctx, const std::string& endpoint, const std::string& id,
             int rcvhwm = 100000, long default_timeout_ms = 2000)
      : default_timeout_ms_(default_timeout_ms) {
    wire::DealerOptions o;
    o.routing_id = id;
    o.rcvhwm = rcvhwm;
    auto d = wire::make_dealer(ctx, o);
    EXPECT_TRUE(d.ok());
    socket_ = std::move(d).value();
    EXPECT_TRUE(wire::connect_endpoint(socket_, endpoint).ok());
  }
  template <typename T>
  void send(const T& message) {
    ASSERT_EQ(wire::send_frames(socket_, sc::make_frames(message), wire::IoMode::kBlock),
              wire::SendStatus::kSent);
  }
  void send_raw(const sc::Frames& frames) {
    ASSERT_EQ(wire::send_frames(socket_, frames, wire::IoMode::kBlock), wire::SendStatus::kSent);
  }
  // The next message other than a broker heartbeat, within timeout_ms.
  std::optional<sc::Message> recv(long timeout_ms = -1) {
    if (timeout_ms < 0) timeout_ms = default_timeout_ms_;
    for (;;) {
      wire::Poller poller;
      poller.add(socket_);
      auto ready = poller.poll(timeout_ms);
      if (!ready.ok() || *ready == 0) return std::nullopt;
      wire::Received r = wire::recv_frames(socket_, wire::RecvLimits{});
      if (r.status != wire::RecvStatus::kMessage) return std::nullopt;
      auto m = sc::parse_frames(r.envelope.frames);
      if (!m.ok()) return std::nullopt;
      if (skip_heartbeats_ && std::holds_alternative<sc::BrokerHeartbeat>(*m)) continue;
      return std::move(m).value();
    }
  }
  template <typename T>
  T expect(long timeout_ms = -1) {
    auto m = recv(timeout_ms);
    EXPECT_TRUE(m.has_value()) << "nothing received";
    if (!m) return T{};
    const T* t = std::get_if<T>(&*m);
    EXPECT_NE(t, nullptr) << "got command " << sc::command_name(sc::message_command(*m));
    return t != nullptr ? *t : T{};
  }
  void set_skip_heartbeats(bool skip) { skip_heartbeats_ = skip; }

 private:
  zmq::socket_t socket_;
  long default_timeout_ms_ = 2000;
  bool skip_heartbeats_ = true;
};

}  // namespace rs::test
