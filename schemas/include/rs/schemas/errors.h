// ErrorCode: the typed errors shared by the wire (REJECTED/ERROR bodies), logs and metrics.
// Names are stable (they appear on the wire and in Redis); never renumber or rename.
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rs/core/status.h"

namespace rs::schemas {

enum class ErrorCode : uint8_t {
  kOk = 0,
  kBadFrame,          // wrong number of frames, bad header magic, empty command frame
  kBadVersion,        // header magic right, protocol version not ours
  kBadMsgpack,        // body is not valid msgpack, or a field has the wrong type
  kTooLarge,          // frame, string or array over its limit
  kUnknownCommand,    // command byte not defined (or not valid in this direction)
  kUnknownModel,      // no worker serves that model
  kPromptTooLong,     // prompt over max_prompt_bytes (or the model's context)
  kQueueFull,         // the model's queue is at max_queued
  kInvalidArgument,   // a field's value out of range (temperature < 0, max_tokens 0, ...)
  kNotFound,          // unknown job id
  kUnavailable,       // Redis down, no worker, broker shutting down
  kInternal,          // a bug of ours
  kModelUnavailable,  // model known but no device with it loaded can take work
  kCancelled,         // the job was cancelled
  kWorkerLost,        // the job's worker died (may be retried)
  kMaxAttempts,       // retried max_attempts times; the job is dead-lettered
  kTimeout,           // a deadline passed
  kExpired,           // the job was still queued at its expires_ms: never run
  kLagged,            // a subscriber fell too far behind: dropped (re-SUBSCRIBE from its last seq)
  kDraining,          // the worker is shutting down: the job is handed back (retried elsewhere)
  kPermissionDenied,  // the sender's key does not allow this (a client key's other tenant)
};
inline constexpr int kErrorCodeCount = static_cast<int>(ErrorCode::kPermissionDenied) + 1;

// "bad_frame", "queue_full", ...: stable snake_case names.
std::string_view error_code_name(ErrorCode code);
// Inverse of error_code_name; nullopt for an unknown name.
std::optional<ErrorCode> parse_error_code(std::string_view name);
// The rs::StatusCode a wire error maps to (queue_full -> kResourceExhausted, ...).
StatusCode error_status_code(ErrorCode code);

// A Status carrying a wire error: code error_status_code(code), message
// "<error_code_name>: <message>", so wire_error_of() can recover the ErrorCode.
Status wire_error(ErrorCode code, std::string_view message);
// The ErrorCode of a Status built by wire_error(); for other Statuses, a best mapping
// from the StatusCode (kOk for ok, kInternal otherwise unknown).
ErrorCode wire_error_of(const Status& status);
// The message of a wire_error() Status without its "<name>: " prefix.
std::string wire_error_message(const Status& status);

}  // namespace rs::schemas
