// ApiError: an HTTP error in OpenAI's shape {"error": {"message", "type", "param", "code"}}.
// Plain values; made by request parsing, by the broker's typed errors, and by routing.
#pragma once

#include <string>

#include "rs/core/status.h"

namespace rs::gateway {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string code;   // "" -> null
  std::string param;  // "" -> null
  std::string message;
  int retry_after_s = 0;  // > 0: a Retry-After header (429)
};

ApiError bad_request(std::string param, std::string message, std::string code = "invalid_value");
ApiError unsupported_field(const std::string& param, const std::string& why);
ApiError unauthorized(std::string message);
ApiError not_found(std::string code, std::string message);
ApiError too_large(std::string message);
// A broker error (schemas::wire_error Status) as the status a client should see:
// queue_full -> 429, unknown_model -> 404, prompt_too_long -> 413, invalid -> 400,
// not_found -> 404, unavailable / timeout -> 503, anything else 502.
ApiError from_broker(const Status& status);
// The response body: {"error": {...}} (null for empty code / param).
std::string error_body(const ApiError& error);

}  // namespace rs::gateway
