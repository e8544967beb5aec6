// Poller: the zmq_poll set of a single-threaded loop (broker loop, worker I/O thread,
// client). Holds non-owning pointers to sockets that must outlive it; the thread that owns
// those sockets is the only one that may call it. Never throws: EINTR is a plain timeout.
#pragma once

#include <cstddef>
#include <vector>
#include <zmq.hpp>

#include "rs/core/result.h"

namespace rs::wire {

class Poller {
 public:
  // Adds a socket (events: ZMQ_POLLIN and/or ZMQ_POLLOUT); returns its index.
  size_t add(zmq::socket_t& socket, short events = ZMQ_POLLIN);
  // Changes the events polled for an index (e.g. add ZMQ_POLLOUT while a send is pending).
  void set_events(size_t index, short events);
  size_t size() const { return items_.size(); }

  // Waits up to timeout_ms (-1: forever, 0: just look). Returns how many items are ready;
  // 0 on timeout or EINTR; unavailable when the context is terminating.
  Result<int> poll(long timeout_ms);
  bool readable(size_t index) const;
  bool writable(size_t index) const;

 private:
  static constexpr size_t kUsualItems = 8;
  std::vector<zmq::pollitem_t> items_;
};

}  // namespace rs::wire
