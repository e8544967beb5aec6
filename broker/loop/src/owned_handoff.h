// Ownership across an inproc PAIR socket between the broker loop and one of its store
// threads (StoreWriter, StoreReader): a raw pointer in a message, released by the sender and
// adopted by the receiver, so one side owns each object at any time (no shared state, no
// mutex). Internal to rs_broker; each call is made by the thread that owns that socket end.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <zmq.hpp>

namespace rs::broker {

// Ownership crosses the inproc socket as a raw pointer in a message: the sender releases
// it, the receiver adopts it (one owner at any time, no shared state, no mutex). The
// counter makes the hand-over visible to ThreadSanitizer (libzmq's queues are not
// instrumented): a release before the send, an acquire after the receive.
template <typename T>
inline bool send_owned(zmq::socket_t& socket, std::unique_ptr<T> value,
                       std::atomic<uint64_t>& handoffs) {
  handoffs.fetch_add(1, std::memory_order_release);
  T* raw = value.get();
  zmq::message_t msg(&raw, sizeof raw);
  auto sent = socket.send(msg, zmq::send_flags::dontwait);
  if (!sent) return false;
  value.release();
  return true;
}

template <typename T>
inline std::unique_ptr<T> recv_owned(zmq::socket_t& socket, zmq::recv_flags flags,
                                     std::atomic<uint64_t>& handoffs) {
  zmq::message_t msg;
  auto got = socket.recv(msg, flags);
  if (!got || msg.size() != sizeof(T*)) return nullptr;
  (void)handoffs.load(std::memory_order_acquire);
  T* raw = nullptr;
  std::memcpy(&raw, msg.data(), sizeof raw);
  return std::unique_ptr<T>(raw);
}

inline zmq::socket_t make_pair_socket(zmq::context_t& context) {
  zmq::socket_t s(context, zmq::socket_type::pair);
  s.set(zmq::sockopt::sndhwm, 0);  // unbounded: the loop bounds what it holds
  s.set(zmq::sockopt::rcvhwm, 0);
  s.set(zmq::sockopt::linger, 0);
  return s;
}

}  // namespace rs::broker
