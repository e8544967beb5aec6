#include "rs/wire/peer_monitor.h"

#include <cstdint>
#include <cstring>

#include "monitor_socket.h"

namespace rs::wire {

Status PeerMonitor::start(zmq::context_t& context, zmq::socket_t& socket, const std::string& name) {
  auto pair = detail::open_monitor(context, socket, "inproc://rs-peer-monitor-" + name,
                                   ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                                       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  if (!pair.ok()) return pair.status();
  pair_ = std::move(pair).value();
  return Status();
}

// An event is two frames: 2 bytes event id + 4 bytes value (the fd), then the endpoint.
std::optional<PeerEvent> PeerMonitor::next() {
  if (!pair_) return std::nullopt;
  try {
    for (;;) {
      zmq::message_t head;
      if (!pair_.recv(head, zmq::recv_flags::dontwait)) return std::nullopt;
      bool more = head.more();
      while (more) {
        zmq::message_t rest;
        if (!pair_.recv(rest, zmq::recv_flags::dontwait)) break;
        more = rest.more();
      }
      if (head.size() < sizeof(uint16_t) + sizeof(uint32_t)) continue;
      uint16_t event = 0;
      uint32_t value = 0;
      std::memcpy(&event, head.data(), sizeof event);
      std::memcpy(&value, static_cast<const char*>(head.data()) + sizeof event, sizeof value);
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) return PeerEvent{.handshake_failure = "protocol"};
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) return PeerEvent{.handshake_failure = "auth"};
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) return PeerEvent{.handshake_failure = "other"};
      if (event != ZMQ_EVENT_ACCEPTED && event != ZMQ_EVENT_DISCONNECTED) continue;
      return PeerEvent{.connected = event == ZMQ_EVENT_ACCEPTED, .fd = static_cast<int>(value)};
    }
  } catch (const zmq::error_t&) {
    return std::nullopt;
  }
}

}  // namespace rs::wire
