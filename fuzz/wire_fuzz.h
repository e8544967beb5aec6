// Shared body of the msgpack wire fuzzers: the input is [selector byte, body...]; the
// selector picks one command of a direction (or, >= 0xF0, the next byte is the raw command
// byte), and the frames [header, command, body] go through parse_frames as the receiving
// side calls it. A decoded message must re-encode to bytes that decode to the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "rs/schemas/codec.h"
#include "rs/schemas/frames.h"
#include "rs/schemas/protocol.h"

namespace rs::fuzz {

inline void check_round_trip(const schemas::Message& message, schemas::Direction direction) {
  const schemas::Frames again = schemas::to_frames(message);
  auto reparsed = schemas::parse_frames(again, direction);
  if (!reparsed.ok()) std::abort();  // we decoded it, so what we encode must decode
  if (schemas::to_frames(reparsed.value()) != again) std::abort();  // and encode the same
}

// [header, command, body] from the input; `commands` are the direction's command bytes.
inline schemas::Frames wire_frames(const uint8_t* data, size_t size,
                                   const std::vector<schemas::Command>& commands) {
  if (size == 0) return {};
  size_t at = 1;
  uint8_t command = static_cast<uint8_t>(commands[data[0] % commands.size()]);
  if (data[0] >= 0xF0 && size >= 2) {
    command = data[1];
    at = 2;
  }
  return schemas::Frames{schemas::header_frame(), std::string(1, static_cast<char>(command)),
                         std::string(reinterpret_cast<const char*>(data) + at, size - at)};
}

inline void fuzz_direction(const uint8_t* data, size_t size, schemas::Direction direction,
                           const std::vector<schemas::Command>& commands) {
  const schemas::Frames frames = wire_frames(data, size, commands);
  if (frames.empty()) return;
  const schemas::Limits limits;
  auto parsed = schemas::parse_frames(frames, direction, limits);
  if (parsed.ok()) {
    check_round_trip(parsed.value(), direction);
    return;
  }
  // The broker answers a SUBMIT it could not take with REJECTED and the body's request_id
  // (BrokerState::reject_bad_submit): that second decode sees the same hostile bytes.
  auto command = schemas::peek_command(frames, limits);
  if (command.ok() && *command == schemas::Command::kSubmit) {
    (void)schemas::decode<schemas::Ping>(frames[2], limits);
  }
}

}  // namespace rs::fuzz
