// PeerMonitor: the connections of a bound socket (a ROUTER) coming and going, by file
// descriptor (ZeroMQ socket monitor over an inproc PAIR), so the owner learns at once that
// a peer's TCP connection dropped (a killed worker or client) and can pair the event with
// the peer through Received::src_fd. Owned by the thread that owns the socket; never throws.
#pragma once

#include <optional>
#include <string>
#include <zmq.hpp>

#include "rs/core/result.h"

namespace rs::wire {

struct PeerEvent {
  bool connected = false;  // accepted; else the connection is gone (or its handshake failed)
  int fd = -1;
  // A failed security handshake (CURVE): "protocol" (a NULL-mechanism or garbled peer, a
  // wrong server key), "auth" (the ZAP handler refused the key) or "other"; "" otherwise.
  // The event's value is then a protocol error code, not an fd (fd is -1).
  const char* handshake_failure = "";
};

class PeerMonitor {
 public:
  PeerMonitor() = default;
  // Starts monitoring `socket` (accepted, disconnected, handshakes failed). `name` must be unique in the
  // context (it names the inproc endpoint).
  Status start(zmq::context_t& context, zmq::socket_t& socket, const std::string& name);
  // The next event, if any. Non-blocking.
  std::optional<PeerEvent> next();
  // For a Poller (readable when events wait); valid after start().
  zmq::socket_t& socket() { return pair_; }
  bool started() const { return static_cast<bool>(pair_); }

 private:
  zmq::socket_t pair_;
};

}  // namespace rs::wire
