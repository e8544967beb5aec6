// Framing adapter: one schemas::Frames (plus routing-id frames for a ROUTER) <-> one
// ZeroMQ multipart message. Never throws: zmq::error_t is caught here and every outcome is
// a value. Free functions over a socket the caller owns; call them only from the thread
// that owns that socket (a zmq socket belongs to one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "rs/core/status.h"
#include "rs/schemas/frames.h"

namespace rs::wire {

// Routing-id frames as ZeroMQ gives them: ROUTER peers of a DEALER -> exactly one.
using RoutingIds = std::vector<std::string>;

struct Envelope {
  RoutingIds routing;      // the first n_routing frames of the message
  schemas::Frames frames;  // the rest: [header, command, body] for a well-formed peer
  // The peer sent the packed form (one frame: header, command byte and body back to back),
  // which recv_frames split into the three frames above. docs/PROTOCOL.md "Packed form".
  bool packed = false;
};

// How a message goes on the wire: three frames, or the three packed into one (a third of
// ZeroMQ's per-frame work, and of CURVE's: every frame is encrypted on its own). Every
// receiver here takes both; a peer is sent the packed form only once it has used it.
enum class Framing : uint8_t { kFrames, kPacked };

enum class SendStatus : uint8_t {
  kSent,        // the whole multipart message was queued
  kWouldBlock,  // EAGAIN: the peer's pipe is at its HWM (or no peer yet); nothing sent
  kUnroutable,  // EHOSTUNREACH (ROUTER_MANDATORY): no connected peer with that id
  kClosed,      // ETERM / ENOTSOCK: the context or socket is shutting down
  kError,       // any other errno, or an empty Frames; nothing usable was sent
};
std::string_view send_status_name(SendStatus status);

// kDontWait: never block (EAGAIN becomes kWouldBlock). kBlock: wait (tests, shutdown paths).
enum class IoMode : uint8_t { kDontWait, kBlock };

// Sends routing frames then frames as one message (kPacked: the frames joined into one
// part). The default is non-blocking: the caller handles kWouldBlock / kUnroutable
// explicitly. An empty `frames` sends nothing (kError).
SendStatus send_frames(zmq::socket_t& socket, const RoutingIds& routing,
                       const schemas::Frames& frames, IoMode mode = IoMode::kDontWait,
                       Framing framing = Framing::kFrames);
inline SendStatus send_frames(zmq::socket_t& socket, const schemas::Frames& frames,
                              IoMode mode = IoMode::kDontWait, Framing framing = Framing::kFrames) {
  return send_frames(socket, RoutingIds{}, frames, mode, framing);
}
// Encodes a schemas message (to_frames) and sends it.
SendStatus send_message(zmq::socket_t& socket, const RoutingIds& routing,
                        const schemas::Message& message, IoMode mode = IoMode::kDontWait,
                        Framing framing = Framing::kFrames);


struct RecvLimits {
  size_t n_routing = 0;   // leading routing frames: 1 on a ROUTER, 0 on a DEALER
  size_t max_frames = 8;  // payload frames (the protocol uses 3)
  size_t max_total_bytes = (4u << 20) + 4096;  // payload bytes over all frames
  bool read_user_id = false;                   // fill Received::user_id (a CURVE server's ROUTER)
};

enum class RecvStatus : uint8_t {
  kMessage,     // envelope holds routing + frames
  kWouldBlock,  // nothing to read (non-blocking receive)
  kRejected,    // a whole message was read and dropped; envelope.routing holds what was
                // readable (so the caller can answer the peer), error is a wire_error
  kClosed,      // ETERM / ENOTSOCK (or an unexpected socket error): stop using this socket
};

struct Received {
  RecvStatus status = RecvStatus::kWouldBlock;
  Envelope envelope;
  // kRejected: schemas::wire_error(kTooLarge | kBadFrame, ...); kClosed: unavailable.
  Status error;
  // The file descriptor of the connection the message came in on (-1 if unknown): pairs a
  // peer with the socket monitor's connection events (ConnectionMonitor).
  int src_fd = -1;
  // The ZAP handler's User-Id of the connection (RecvLimits::read_user_id; "" without ZAP).
  std::string user_id;
};

// Reads one whole multipart message (always to its last part, so the next call starts at a
// message boundary); a packed message is split (schemas::unpack_frames, Envelope::packed). Too many payload
// frames or missing routing frames -> bad_frame; more than max_total_bytes of payload -> too_large.
// Payload bytes past the limit are not copied.
Received recv_frames(zmq::socket_t& socket, const RecvLimits& limits,
                     IoMode mode = IoMode::kDontWait);

}  // namespace rs::wire
