#include "rs/wire/peer_monitor.h"

#include <cstdint>
#include <cstring>

namespace rs::wire {

Status PeerMonitor::start(zmq::context_t& context, zmq::socket_t& socket, const std::string& name) {
  const std::string endpoint = "inproc://rs-peer-monitor-" + name;
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(),
                         ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
    return Status(StatusCode::kIoError, std::string("zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
  }
  try {
    pair_ = zmq::socket_t(context, zmq::socket_type::pair);
    pair_.set(zmq::sockopt::linger, 0);
    pair_.connect(endpoint);
  } catch (const zmq::error_t& e) {
    pair_ = zmq::socket_t();
    return Status(StatusCode::kIoError, std::string("peer monitor: ") + e.what());
  }
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
      if (event != ZMQ_EVENT_ACCEPTED && event != ZMQ_EVENT_DISCONNECTED) continue;
      return PeerEvent{.connected = event == ZMQ_EVENT_ACCEPTED, .fd = static_cast<int>(value)};
    }
  } catch (const zmq::error_t&) {
    return std::nullopt;
  }
}

}  // namespace rs::wire
