#include "rs/wire/link_monitor.h"

#include "monitor_socket.h"

#include <cstdint>
#include <cstring>

namespace rs::wire {

Status LinkMonitor::start(zmq::context_t& context, zmq::socket_t& socket, const std::string& name) {
  stop();
  auto pair = detail::open_monitor(context, socket, "inproc://rs-link-monitor-" + name,
                                   ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
                                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  if (!pair.ok()) return pair.status();
  pair_ = std::move(pair).value();
  return Status();
}

LinkEvents LinkMonitor::poll() {
  LinkEvents latest;
  if (!pair_) return latest;
  try {
    for (;;) {
      zmq::message_t head;
      if (!pair_.recv(head, zmq::recv_flags::dontwait)) break;
      while (head.more()) {  // the second frame names the endpoint: not needed
        zmq::message_t rest;
        if (!pair_.recv(rest, zmq::recv_flags::dontwait) || !rest.more()) break;
      }
      if (head.size() < sizeof(uint16_t)) continue;
      uint16_t event = 0;
      std::memcpy(&event, head.data(), sizeof(event));
      if (event == ZMQ_EVENT_CONNECTED) latest.connected = true;
      // NO_DETAIL is a link lost mid-handshake, which ZeroMQ retries by itself; PROTOCOL and
      // AUTH end the connection for good.
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        latest.refused = true;
        latest.connected = false;
      }
      if (event == ZMQ_EVENT_DISCONNECTED) {
        latest.disconnected = true;
        latest.connected = false;
      }
    }
  } catch (const zmq::error_t&) {
    return latest;
  }
  return latest;
}

void LinkMonitor::stop() {
  if (pair_) pair_.close();
}

}  // namespace rs::wire
