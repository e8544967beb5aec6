#include "rs/wire/framing.h"

#include <cerrno>
#include <string>

#include "rs/schemas/errors.h"
#include "zmq_status.h"

namespace rs::wire {
namespace {

using schemas::ErrorCode;
using schemas::wire_error;

constexpr size_t kUsualFrames = 3;

SendStatus send_status_of(int errnum) {
  switch (errnum) {
    case EAGAIN:
      return SendStatus::kWouldBlock;
    case EHOSTUNREACH:
      return SendStatus::kUnroutable;
    default:
      return is_closed_errno(errnum) ? SendStatus::kClosed : SendStatus::kError;
  }
}

// Sends one part; false with errno-like *err set when it was not queued.
bool send_part(zmq::socket_t& socket, const std::string& part, bool more, IoMode mode, int* err) {
  zmq::send_flags flags = more ? zmq::send_flags::sndmore : zmq::send_flags::none;
  if (mode == IoMode::kDontWait) flags = flags | zmq::send_flags::dontwait;
  for (;;) {
    try {
      if (socket.send(zmq::const_buffer(part.data(), part.size()), flags)) return true;
      *err = EAGAIN;
    } catch (const zmq::error_t& e) {
      *err = e.num();
      if (*err == EINTR) continue;  // a signal during a blocking send: try again
    }
    return false;
  }
}

// The next part of a message whose first part was read: already queued, so this never
// waits; retried on EINTR so the socket is never left in the middle of a message.
bool recv_next_part(zmq::socket_t& socket, zmq::message_t& part) {
  for (;;) {
    try {
      return socket.recv(part, zmq::recv_flags::none).has_value();
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }
}

// Copies one received part into the envelope, enforcing the limits; the first violation
// is kept in *error and later parts are only counted.
void take_part(const zmq::message_t& part, const RecvLimits& limits, size_t index,
               size_t* total_bytes, Envelope* envelope, Status* error) {
  if (index < limits.n_routing) {
    if (index == 0) envelope->routing.reserve(limits.n_routing);
    envelope->routing.emplace_back(part.data<char>(), part.size());
    return;
  }
  *total_bytes += part.size();
  if (!error->ok()) return;
  const size_t n_payload = index - limits.n_routing + 1;
  if (n_payload > limits.max_frames) {
    *error = wire_error(ErrorCode::kBadFrame,
                        "more than " + std::to_string(limits.max_frames) + " frames");
  } else if (*total_bytes > limits.max_total_bytes) {
    *error = wire_error(ErrorCode::kTooLarge,
                        "message over " + std::to_string(limits.max_total_bytes) + " bytes");
  } else {
    // [header, command, body] is the usual message: one allocation, not three.
    if (n_payload == 1) envelope->frames.reserve(kUsualFrames);
    envelope->frames.emplace_back(part.data<char>(), part.size());
  }
}

// Reads the parts after the first; they are already queued (multipart is atomic).
void read_rest(zmq::socket_t& socket, zmq::message_t& part, const RecvLimits& limits,
               Received* out) {
  size_t index = 0;
  size_t total_bytes = 0;
  Status error;
  for (;;) {
    // A ROUTER's routing-id part is made locally: the peer's connection is on the others.
    if (out->src_fd < 0) out->src_fd = zmq_msg_get(part.handle(), ZMQ_SRCFD);
    if (limits.read_user_id && index == limits.n_routing) {
      if (const char* user = zmq_msg_gets(part.handle(), "User-Id"); user != nullptr)
        out->user_id = user;
    }
    take_part(part, limits, index, &total_bytes, &out->envelope, &error);
    ++index;
    if (!part.more()) break;
    if (!recv_next_part(socket, part)) {
      error = wire_error(ErrorCode::kInternal, "multipart message ended early");
      break;
    }
  }
  if (error.ok() && index < limits.n_routing) {
    error = wire_error(ErrorCode::kBadFrame, "missing routing frames");
  } else if (error.ok() && index == limits.n_routing) {
    error = wire_error(ErrorCode::kBadFrame, "no payload frames");
  }
  if (error.ok()) {
    out->status = RecvStatus::kMessage;
    out->envelope.packed = schemas::unpack_frames(out->envelope.frames);
    return;
  }
  out->status = RecvStatus::kRejected;
  out->envelope.frames.clear();
  out->error = std::move(error);
}

}  // namespace

std::string_view send_status_name(SendStatus status) {
  switch (status) {
    case SendStatus::kSent:
      return "sent";
    case SendStatus::kWouldBlock:
      return "would_block";
    case SendStatus::kUnroutable:
      return "unroutable";
    case SendStatus::kClosed:
      return "closed";
    case SendStatus::kError:
      return "error";
  }
  return "unknown";
}

SendStatus send_frames(zmq::socket_t& socket, const RoutingIds& routing,
                       const schemas::Frames& frames, IoMode mode, Framing framing) {
  if (frames.empty()) return SendStatus::kError;
  const bool packed = framing == Framing::kPacked;
  const std::string one = packed ? schemas::pack_frames(frames) : std::string();
  const size_t n_parts = routing.size() + (packed ? 1 : frames.size());
  for (size_t i = 0; i < n_parts; ++i) {
    const std::string& part = i < routing.size() ? routing[i]
                              : packed           ? one
                                                 : frames[i - routing.size()];
    int err = 0;
    if (send_part(socket, part, i + 1 < n_parts, mode, &err)) continue;
    // Only the first part can be refused by HWM or ROUTER_MANDATORY: once it is queued,
    // ZeroMQ accepts the rest of the message. A later failure means the socket is broken.
    if (i == 0) return send_status_of(err);
    return is_closed_errno(err) ? SendStatus::kClosed : SendStatus::kError;
  }
  return SendStatus::kSent;
}

SendStatus send_message(zmq::socket_t& socket, const RoutingIds& routing,
                        const schemas::Message& message, IoMode mode, Framing framing) {
  return send_frames(socket, routing, schemas::to_frames(message), mode, framing);
}

Received recv_frames(zmq::socket_t& socket, const RecvLimits& limits, IoMode mode) {
  Received out;
  const zmq::recv_flags flags =
      mode == IoMode::kDontWait ? zmq::recv_flags::dontwait : zmq::recv_flags::none;
  try {
    zmq::message_t part;
    if (!socket.recv(part, flags)) return out;  // kWouldBlock
    read_rest(socket, part, limits, &out);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR || e.num() == EAGAIN) {
      out.status = RecvStatus::kWouldBlock;
      return out;
    }
    out = Received{};
    out.status = RecvStatus::kClosed;
    out.error = zmq_status(e.num(), "recv");
  }
  return out;
}

}  // namespace rs::wire
