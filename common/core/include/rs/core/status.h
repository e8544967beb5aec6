// Status and StatusCode: the error value returned on hot paths across ringserve.
// A Status is a small immutable value; any thread may create, copy and read one.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace rs {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,    // the caller's input is malformed or out of range
  kNotFound,           // a named thing (file, key, tensor, job) does not exist
  kCorrupt,            // a file or message fails validation (truncated, bad offsets)
  kUnsupported,        // valid but not handled (unknown architecture, tensor type)
  kResourceExhausted,  // out of KV blocks, queue full, too large
  kIoError,            // the operating system refused (open, mmap, read, write)
  kCancelled,
  kUnavailable,
  kInternal,           // a bug of ours
  kPermissionDenied,   // refused credentials or rights (a Redis AUTH or ACL refusal)
};

std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt: tensor 'x' extends past the end of the file"
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status permission_denied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }

}  // namespace rs

// Propagates a non-ok Status (or the Status of a failed Result) to the caller.
#define RS_RETURN_IF_ERROR(expr)            \
  do {                                      \
    ::rs::Status rs_status_ = (expr);       \
    if (!rs_status_.ok()) return rs_status_; \
  } while (0)
