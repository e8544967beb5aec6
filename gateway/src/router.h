// route(): dispatches one request of a session to its handler: /v1/models,
// /v1/completions, /v1/chat/completions, /v1/jobs/{id}[/events], /v1/admin/workers,
// /health; each behind its scope (access.h). Asio thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "access.h"
#include "api_error.h"

namespace rs::gateway {

class HttpSession;
struct GatewayContext;

void route(const std::shared_ptr<HttpSession>& session, GatewayContext& context);

// The tenant and scopes of the request's bearer key (all scopes, tenant "" with
// --no-auth), or a 401.
std::optional<ApiError> authenticate(const HttpSession& session, GatewayContext& context,
                                     Caller& caller);

}  // namespace rs::gateway
