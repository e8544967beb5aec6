// ApiError constructors, the broker error mapping and the JSON body.
#include "api_error.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "json_text.h"
#include "rs/schemas/errors.h"

namespace rs::gateway {

ApiError bad_request(std::string param, std::string message, std::string code) {
  return ApiError{.status = 400,
                  .code = std::move(code),
                  .param = std::move(param),
                  .message = std::move(message)};
}

ApiError unsupported_field(const std::string& param, const std::string& why) {
  return ApiError{.status = 400,
                  .code = "unsupported_parameter",
                  .param = param,
                  .message = "'" + param + "' " + why + " is not supported by this server"};
}

ApiError unauthorized(std::string message) {
  return ApiError{.status = 401, .code = "invalid_api_key", .message = std::move(message)};
}

ApiError not_found(std::string code, std::string message) {
  return ApiError{.status = 404, .code = std::move(code), .message = std::move(message)};
}

ApiError too_large(std::string message) {
  return ApiError{.status = 413, .code = "request_too_large", .message = std::move(message)};
}

ApiError from_broker(const Status& status) {
  using schemas::ErrorCode;
  const ErrorCode code = schemas::wire_error_of(status);
  std::string message = schemas::wire_error_message(status);
  std::string name(schemas::error_code_name(code));
  switch (code) {
    case ErrorCode::kQueueFull:
      return ApiError{.status = 429,
                      .type = "rate_limit_error",
                      .code = name,
                      .message = message,
                      .retry_after_s = 1};
    case ErrorCode::kUnknownModel:
      return ApiError{
          .status = 404, .code = "model_not_found", .param = "model", .message = message};
    case ErrorCode::kNotFound:
      return ApiError{.status = 404, .code = "job_not_found", .message = message};
    case ErrorCode::kPromptTooLong:
    case ErrorCode::kTooLarge:
      return ApiError{.status = 413, .code = name, .param = "prompt", .message = message};
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kBadMsgpack:
      return ApiError{.status = 400, .code = name, .message = message};
    case ErrorCode::kUnavailable:
    case ErrorCode::kModelUnavailable:
    case ErrorCode::kTimeout:
      return ApiError{.status = 503,
                      .type = "server_error",
                      .code = name,
                      .message = message,
                      .retry_after_s = 1};
    default:
      return ApiError{.status = 502, .type = "server_error", .code = name, .message = message};
  }
}

std::string error_body(const ApiError& error) {
  nlohmann::json e = {
      {"message", error.message},
      {"type", error.type},
      {"param", error.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(error.param)},
      {"code", error.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(error.code)},
  };
  return json_text(nlohmann::json{{"error", e}});
}

}  // namespace rs::gateway
