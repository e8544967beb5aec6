#include "rs/schemas/errors.h"

#include <array>

namespace rs::schemas {
namespace {

constexpr std::array<std::string_view, kErrorCodeCount> kNames = {
    "ok",           "bad_frame",        "bad_version",     "bad_msgpack",   "too_large",
    "unknown_command", "unknown_model", "prompt_too_long", "queue_full",    "invalid_argument",
    "not_found",    "unavailable",      "internal",        "model_unavailable", "cancelled",
    "worker_lost",  "max_attempts",     "timeout",         "expired",       "lagged",
    "draining",     "permission_denied",
};

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  auto i = static_cast<size_t>(code);
  return i < kNames.size() ? kNames[i] : std::string_view("internal");
}

std::optional<ErrorCode> parse_error_code(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

StatusCode error_status_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return StatusCode::kOk;
    case ErrorCode::kBadFrame:
    case ErrorCode::kBadVersion:
    case ErrorCode::kBadMsgpack: return StatusCode::kCorrupt;
    case ErrorCode::kTooLarge:
    case ErrorCode::kPromptTooLong:
    case ErrorCode::kQueueFull: return StatusCode::kResourceExhausted;
    case ErrorCode::kUnknownCommand: return StatusCode::kUnsupported;
    case ErrorCode::kUnknownModel:
    case ErrorCode::kNotFound: return StatusCode::kNotFound;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kPermissionDenied: return StatusCode::kInvalidArgument;
    case ErrorCode::kUnavailable:
    case ErrorCode::kModelUnavailable:
    case ErrorCode::kWorkerLost:
    case ErrorCode::kTimeout:
    case ErrorCode::kLagged:
    case ErrorCode::kDraining:
    case ErrorCode::kExpired: return StatusCode::kUnavailable;
    case ErrorCode::kCancelled: return StatusCode::kCancelled;
    case ErrorCode::kMaxAttempts:
    case ErrorCode::kInternal: return StatusCode::kInternal;
  }
  return StatusCode::kInternal;
}

Status wire_error(ErrorCode code, std::string_view message) {
  std::string m(error_code_name(code));
  m += ": ";
  m += message;
  return {error_status_code(code), std::move(m)};
}

ErrorCode wire_error_of(const Status& status) {
  if (status.ok()) return ErrorCode::kOk;
  const std::string& m = status.message();
  auto colon = m.find(": ");
  if (colon != std::string::npos) {
    if (auto code = parse_error_code(std::string_view(m).substr(0, colon))) return *code;
  }
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return ErrorCode::kInvalidArgument;
    case StatusCode::kNotFound: return ErrorCode::kNotFound;
    case StatusCode::kCorrupt: return ErrorCode::kBadMsgpack;
    case StatusCode::kResourceExhausted: return ErrorCode::kTooLarge;
    case StatusCode::kUnsupported: return ErrorCode::kUnknownCommand;
    case StatusCode::kCancelled: return ErrorCode::kCancelled;
    case StatusCode::kUnavailable:
    case StatusCode::kPermissionDenied:  // e.g. Redis refused our credentials: the service is down
    case StatusCode::kIoError: return ErrorCode::kUnavailable;
    default: return ErrorCode::kInternal;
  }
}

std::string wire_error_message(const Status& status) {
  const std::string& m = status.message();
  auto colon = m.find(": ");
  if (colon != std::string::npos && parse_error_code(std::string_view(m).substr(0, colon))) {
    return m.substr(colon + 2);
  }
  return m;
}

}  // namespace rs::schemas
