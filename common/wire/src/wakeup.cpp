#include "rs/wire/wakeup.h"

#include <atomic>
#include <cerrno>

#include "zmq_status.h"

namespace rs::wire {
namespace {

// A few pending wake-ups are enough: they coalesce (see wakeup.h).
constexpr int kWakeupHwm = 16;

std::string unique_name() {
  static std::atomic<uint64_t> counter{0};
  return "rs-wakeup-" + std::to_string(counter.fetch_add(1));
}

zmq::socket_t make_pair(zmq::context_t& context) {
  zmq::socket_t socket(context, zmq::socket_type::pair);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, kWakeupHwm);
  socket.set(zmq::sockopt::rcvhwm, kWakeupHwm);
  return socket;
}

}  // namespace

bool WakeupSender::wake() {
  if (!socket_) return false;
  try {
    const char byte = 1;
    // Empty result = EAGAIN: the pipe is full, so a wake-up is already pending.
    (void)socket_.send(zmq::const_buffer(&byte, 1), zmq::send_flags::dontwait);
    return true;
  } catch (const zmq::error_t&) {
    return false;
  }
}

int WakeupReceiver::drain() {
  if (!socket_) return 0;
  int n = 0;
  try {
    zmq::message_t message;
    while (socket_.recv(message, zmq::recv_flags::dontwait)) ++n;
  } catch (const zmq::error_t&) {
    // EINTR / ETERM: report what was drained; the poll loop sees the rest.
  }
  return n;
}

Result<WakeupPair> make_wakeup_pair(zmq::context_t& context, std::string name) {
  if (name.empty()) name = unique_name();
  const std::string endpoint = "inproc://" + name;
  try {
    zmq::socket_t receiver = make_pair(context);
    receiver.bind(endpoint);
    zmq::socket_t sender = make_pair(context);
    sender.connect(endpoint);
    return WakeupPair{WakeupReceiver(std::move(receiver)), WakeupSender(std::move(sender))};
  } catch (const zmq::error_t& e) {
    return zmq_status(e.num(), "wake-up pair " + endpoint);
  }
}

}  // namespace rs::wire
