// WirePeer: a raw DEALER on a broker endpoint for integration tests that must see the
// wire itself (every TOKENS entry as sent, malformed frames), not the rs_client view.
// Sends typed messages or raw frames; receives parsed messages. One thread (the owner's).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>
#include <zmq.hpp>

#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::test {

class WirePeer {
 public:
  WirePeer(zmq::context_t& context, const std::string& endpoint, const std::string& routing_id = {},
           const wire::CurveClientKeys& curve = {}) {
    wire::DealerOptions o;
    o.routing_id = routing_id;
    o.curve = curve;
    auto d = wire::make_dealer(context, o);
    if (!d.ok()) return;
    socket_ = std::move(d).value();
    ok_ = wire::connect_endpoint(socket_, endpoint).ok();
  }
  bool ok() const { return ok_; }

  template <typename T>
  bool send(const T& message) {
    return send_raw(schemas::make_frames(message));
  }
  bool send_raw(const schemas::Frames& frames, wire::Framing framing = wire::Framing::kFrames) {
    return wire::send_frames(socket_, frames, wire::IoMode::kBlock, framing) == wire::SendStatus::kSent;
  }
  // The parts of the next message exactly as they came off the wire (a packed message is
  // one part); empty on timeout.
  std::vector<std::string> recv_parts(long timeout_ms) {
    wire::Poller poller;
    poller.add(socket_);
    auto ready = poller.poll(timeout_ms);
    std::vector<std::string> parts;
    if (!ready.ok() || *ready == 0) return parts;
    for (;;) {
      zmq::message_t part;
      if (!socket_.recv(part, zmq::recv_flags::dontwait)) return parts;
      parts.emplace_back(part.data<char>(), part.size());
      if (!part.more()) return parts;
    }
  }

  // The next message other than a broker heartbeat within timeout_ms; nullopt on timeout
  // or an unparsable reply (parse_error() says which).
  std::optional<schemas::Message> recv(long timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      long left = static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        deadline - std::chrono::steady_clock::now())
                                        .count());
      if (left < 0) return std::nullopt;
      wire::Poller poller;
      poller.add(socket_);
      auto ready = poller.poll(left);
      if (!ready.ok() || *ready == 0) return std::nullopt;
      wire::Received r = wire::recv_frames(socket_, wire::RecvLimits{});
      if (r.status != wire::RecvStatus::kMessage) continue;
      auto m = schemas::parse_frames(r.envelope.frames);
      if (!m.ok()) {
        parse_error_ = m.status().to_string();
        return std::nullopt;
      }
      if (std::holds_alternative<schemas::BrokerHeartbeat>(*m)) continue;
      return std::move(m).value();
    }
  }
  // Whether anything at all (a heartbeat too) arrives within timeout_ms.
  bool got_anything(long timeout_ms) {
    wire::Poller poller;
    poller.add(socket_);
    auto ready = poller.poll(timeout_ms);
    return ready.ok() && *ready > 0;
  }
  // The next message if it is a T (else nullopt).
  template <typename T>
  std::optional<T> recv_as(long timeout_ms) {
    auto m = recv(timeout_ms);
    if (!m) return std::nullopt;
    if (auto* t = std::get_if<T>(&*m)) return *t;
    last_other_ = std::move(m);
    return std::nullopt;
  }
  // The message recv_as() received that was not of the type asked for.
  const std::optional<schemas::Message>& last_other() const { return last_other_; }
  const std::string& parse_error() const { return parse_error_; }
  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
  bool ok_ = false;
  std::string parse_error_;
  std::optional<schemas::Message> last_other_;
};

// "ERROR bad_frame: ..." / "REJECTED queue_full" / "TOKENS" ...: a message for logs.
inline std::string describe(const std::optional<schemas::Message>& m) {
  if (!m) return "nothing";
  std::string out(schemas::command_name(schemas::message_command(*m)));
  if (auto* e = std::get_if<schemas::ErrorReply>(&*m)) {
    out += " " + std::string(schemas::error_code_name(e->code)) + ": " + e->message;
  } else if (auto* r = std::get_if<schemas::Rejected>(&*m)) {
    out += " " + std::string(schemas::error_code_name(r->code)) + ": " + r->message;
  }
  return out;
}

}  // namespace rs::test
