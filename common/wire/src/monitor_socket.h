// Opens the PAIR end of a ZeroMQ socket monitor: zmq_socket_monitor on `socket` for
// `events`, published at `endpoint`, and a PAIR connected to it (linger 0). Shared by
// LinkMonitor and PeerMonitor; the calling thread owns both sockets. Never throws.
#pragma once

#include <string>
#include <zmq.hpp>

#include "rs/core/result.h"

namespace rs::wire::detail {

inline Result<zmq::socket_t> open_monitor(zmq::context_t& context, zmq::socket_t& socket,
                                          const std::string& endpoint, int events) {
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), events) != 0) {
    return Status(StatusCode::kIoError,
                  std::string("zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
  }
  try {
    zmq::socket_t pair(context, zmq::socket_type::pair);
    pair.set(zmq::sockopt::linger, 0);
    pair.connect(endpoint);
    return pair;
  } catch (const zmq::error_t& e) {
    return Status(StatusCode::kIoError, std::string("socket monitor: ") + e.what());
  }
}

}  // namespace rs::wire::detail
