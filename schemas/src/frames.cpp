// [header, command, body] <-> Message.
#include "rs/schemas/frames.h"

namespace rs::schemas {
namespace {

template <class T>
Result<Message> decode_as(std::string_view body, const Limits& l) {
  auto r = decode<T>(body, l);
  if (!r.ok()) return r.status();
  return Message(std::move(r).value());
}

// Decodes the body of `command` into the matching alternative of Message.
template <size_t I = 0>
Result<Message> decode_command(Command command, std::string_view body, const Limits& l) {
  if constexpr (I < std::variant_size_v<Message>) {
    using T = std::variant_alternative_t<I, Message>;
    if (T::kCommand == command) return decode_as<T>(body, l);
    return decode_command<I + 1>(command, body, l);
  } else {
    return wire_error(ErrorCode::kUnknownCommand, "no message for the command");
  }
}

}  // namespace

std::string header_frame() {
  std::string h(kProtocolMagic);
  h.push_back(static_cast<char>(kProtocolVersion));
  return h;
}

Command message_command(const Message& message) {
  return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kCommand; }, message);
}

Frames to_frames(const Message& message) {
  return std::visit([](const auto& m) { return make_frames(m); }, message);
}

bool unpack_frames(Frames& frames) {
  if (frames.size() != 1) return false;
  std::string& one = frames.front();
  if (one.size() < kHeaderBytes + 1 || one.compare(0, kProtocolMagic.size(), kProtocolMagic) != 0) return false;
  std::string header = one.substr(0, kHeaderBytes);
  std::string command = one.substr(kHeaderBytes, 1);
  one.erase(0, kHeaderBytes + 1);  // the body stays in its buffer
  frames.insert(frames.begin(), {std::move(header), std::move(command)});
  return true;
}

std::string pack_frames(const Frames& frames) {
  size_t total = 0;
  for (const std::string& f : frames) total += f.size();
  std::string out;
  out.reserve(total);
  for (const std::string& f : frames) out += f;
  return out;
}

Status check_header(std::string_view header) {
  if (header.size() != kHeaderBytes || header.substr(0, kProtocolMagic.size()) != kProtocolMagic) {
    return wire_error(ErrorCode::kBadFrame, "not a ringserve header frame");
  }
  auto version = static_cast<uint8_t>(header[kProtocolMagic.size()]);
  if (version != kProtocolVersion) {
    return wire_error(ErrorCode::kBadVersion, "protocol version " + std::to_string(version) +
                                                  ", this peer speaks " + std::to_string(kProtocolVersion));
  }
  return {};
}

Result<Command> peek_command(const Frames& frames, const Limits& limits) {
  if (frames.size() != 3) {
    return wire_error(ErrorCode::kBadFrame, "expected 3 frames [header, command, body], got " +
                                                std::to_string(frames.size()));
  }
  RS_RETURN_IF_ERROR(check_header(frames[0]));
  if (frames[1].size() != 1) return wire_error(ErrorCode::kBadFrame, "command frame must be 1 byte");
  auto command = parse_command(static_cast<uint8_t>(frames[1][0]));
  if (!command) {
    return wire_error(ErrorCode::kUnknownCommand,
                      "command byte " + std::to_string(static_cast<uint8_t>(frames[1][0])));
  }
  if (frames[2].size() > limits.max_frame_bytes) {
    return wire_error(ErrorCode::kTooLarge, "frame of " + std::to_string(frames[2].size()) + " bytes > " +
                                                std::to_string(limits.max_frame_bytes));
  }
  return *command;
}

Result<Message> parse_frames(const Frames& frames, const Limits& limits) {
  RS_ASSIGN_OR_RETURN(Command command, peek_command(frames, limits));
  return decode_command(command, frames[2], limits);
}

Result<Message> parse_frames(const Frames& frames, Direction direction, const Limits& limits) {
  RS_ASSIGN_OR_RETURN(Command command, peek_command(frames, limits));
  if (command_direction(command) != direction) {
    return wire_error(ErrorCode::kUnknownCommand,
                      std::string(command_name(command)) + " is not valid in this direction");
  }
  return decode_command(command, frames[2], limits);
}

}  // namespace rs::schemas
