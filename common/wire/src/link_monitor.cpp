#include "rs/wire/link_monitor.h"

#include <cstdint>
#include <cstring>

namespace rs::wire {

Status LinkMonitor::start(zmq::context_t& context, zmq::socket_t& socket, const std::string& name) {
  stop();
  const std::string endpoint = "inproc://rs-link-monitor-" + name;
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(),
                         ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) != 0) {
    return Status(StatusCode::kIoError, std::string("zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
  }
  try {
    pair_ = zmq::socket_t(context, zmq::socket_type::pair);
    pair_.set(zmq::sockopt::linger, 0);
    pair_.connect(endpoint);
  } catch (const zmq::error_t& e) {
    pair_ = zmq::socket_t();
    return Status(StatusCode::kIoError, std::string("link monitor: ") + e.what());
  }
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
