// Wake-up pair: an inproc PAIR link so another thread (an engine thread) can wake the I/O
// thread's poll. WakeupReceiver belongs to the polling thread; WakeupSender to exactly one
// other thread (PAIR is 1:1: make one pair per engine thread). Protocol: the sender pushes
// its work to a shared queue, then wake(); the receiver drain()s, then reads the queue, so
// no wake-up is lost. Wakes coalesce: a full pipe means one is already pending.
#pragma once

#include <string>
#include <utility>
#include <zmq.hpp>

#include "rs/core/result.h"

namespace rs::wire {

class WakeupSender {
 public:
  WakeupSender() = default;
  explicit WakeupSender(zmq::socket_t socket) : socket_(std::move(socket)) {}
  // Non-blocking, never throws. false only if the socket is closed or the context is ending.
  bool wake();

 private:
  zmq::socket_t socket_;
};

class WakeupReceiver {
 public:
  WakeupReceiver() = default;
  explicit WakeupReceiver(zmq::socket_t socket) : socket_(std::move(socket)) {}
  // The socket to add to the Poller (ZMQ_POLLIN).
  zmq::socket_t& socket() { return socket_; }
  // Reads every pending wake-up; returns how many there were.
  int drain();

 private:
  zmq::socket_t socket_;
};

struct WakeupPair {
  WakeupReceiver receiver;
  WakeupSender sender;
};

// Binds the receiver to inproc://<name> and connects the sender. An empty name picks a
// unique one ("rs-wakeup-<n>"). Both sockets are made on the calling thread.
Result<WakeupPair> make_wakeup_pair(zmq::context_t& context, std::string name = {});

}  // namespace rs::wire
