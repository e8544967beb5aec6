// route(): dispatches one request of a session to its handler: /v1/models,
// /v1/completions, /v1/chat/completions, /v1/jobs/{id}[/events], /health. Asio thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api_error.h"

namespace rs::gateway {

class HttpSession;
struct GatewayContext;

void route(const std::shared_ptr<HttpSession>& session, GatewayContext& context);

// The tenant of the request's bearer key ("" with --no-auth), or a 401.
std::optional<ApiError> authenticate(const HttpSession& session, GatewayContext& context,
                                     std::string& tenant);

}  // namespace rs::gateway
