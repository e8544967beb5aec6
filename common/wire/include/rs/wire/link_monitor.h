// LinkMonitor: tells the owner of a connecting socket when its TCP link to the peer went
// down and came back (ZeroMQ socket monitor over an inproc PAIR), so a worker or a client
// learns of a broker restart at once instead of after missed heartbeats. Owned by the thread
// that owns the monitored socket; never throws.
#pragma once

#include <string>
#include <zmq.hpp>

#include "rs/core/result.h"

namespace rs::wire {

// What happened to the link since the last poll.
struct LinkEvents {
  bool disconnected = false;  // it went down at least once
  bool connected = false;     // the latest event was a (re)connection
  // A security handshake failed (CURVE: the broker's ZAP handler refused our key, or the
  // server key is wrong). ZeroMQ then gives up on the connection for good: no reconnect
  // follows, so the owner has to open a new socket (after a pause) to try again.
  bool refused = false;
};

class LinkMonitor {
 public:
  LinkMonitor() = default;
  // Starts monitoring `socket` (connect, disconnect and handshake-failure events). `name` must be unique in
  // the context (it names the inproc endpoint).
  Status start(zmq::context_t& context, zmq::socket_t& socket, const std::string& name);
  // The link events since the last call. Non-blocking.
  LinkEvents poll();
  void stop();

 private:
  zmq::socket_t pair_;
};

}  // namespace rs::wire
