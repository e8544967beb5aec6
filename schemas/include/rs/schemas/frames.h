// Frames without ZeroMQ: a message is [header, command, body] (after any routing frames,
// which the ZeroMQ adapter in common/wire strips and restores). parse_frames checks the
// header, version, command byte and sizes, then decodes the body. Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rs/core/result.h"
#include "rs/schemas/codec.h"
#include "rs/schemas/messages.h"

namespace rs::schemas {

using Frames = std::vector<std::string>;

using Message = std::variant<
    SubmitRequest, CancelRequest, SubscribeRequest, StatusRequest, WorkersRequest, Ping,
    Accepted, Rejected, TokenBatch, Done, StatusReply, WorkersReply, ErrorReply, Pong,
    WorkerReady, WorkerHeartbeat, WorkerTokens, WorkerDone, WorkerFailed, WorkerDisconnect,
    Dispatch, CancelJob, BrokerHeartbeat, BrokerDisconnect>;

// The 4-byte header frame "RSP" + kProtocolVersion.
std::string header_frame();
Command message_command(const Message& message);

template <typename T>
Frames make_frames(const T& message) {
  return Frames{header_frame(), std::string(1, static_cast<char>(T::kCommand)), encode(message)};
}
Frames to_frames(const Message& message);

// The packed form (docs/PROTOCOL.md): one frame that starts with the magic "RSP" and holds at
// least a header and a command byte becomes [header, command, body] (the body is not
// copied); anything else is left alone for parse_frames to judge. True when it was split.
bool unpack_frames(Frames& frames);
// The three frames of a message packed into one (what unpack_frames splits).
std::string pack_frames(const Frames& frames);

// Checks only the header frame: bad_frame (wrong size or magic) or bad_version.
Status check_header(std::string_view header);
// Header + command without decoding the body (cheap pre-routing): unknown_command etc.
Result<Command> peek_command(const Frames& frames, const Limits& limits = Limits{});
// Exactly 3 frames; header; version; known command; every frame <= max_frame_bytes; body.
Result<Message> parse_frames(const Frames& frames, const Limits& limits = Limits{});
// As parse_frames, but the command must belong to `direction` (else unknown_command).
Result<Message> parse_frames(const Frames& frames, Direction direction,
                             const Limits& limits = Limits{});

}  // namespace rs::schemas
