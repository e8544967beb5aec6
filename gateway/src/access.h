// Access rules of the gateway (docs/HTTP.md "Keys and scopes"): who a request's key is
// (its Caller: tenant and scopes), the 403 for a missing scope, and the tenant rule for
// jobs, whose refusal is the very 404 of a job that does not exist, so ids do not leak.
// Pure functions; called on the gateway's Asio thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api_error.h"
#include "rs/core/status.h"
#include "rs/store/api_scopes.h"

namespace rs::gateway {

struct Caller {
  std::string tenant;                           // "" with --no-auth
  store::ApiScopes scopes = store::kScopesAll;  // --no-auth: everything
};

// nullopt if the caller holds `scope`, else a 403 permission_error naming it.
std::optional<ApiError> require_scope(const Caller& caller, store::ApiScopes scope);
// For /v1/jobs/...: jobs:read (own tenant) or admin (any tenant), else a 403.
std::optional<ApiError> require_job_access(const Caller& caller);
// Whether the caller may read, resume or cancel a job stored with `job_tenant`: its own
// tenant's, or any with admin. A job of no tenant (submitted past the gateway) is admin's.
bool may_access_job(const Caller& caller, std::string_view job_tenant);
// The one 404 for a job id that is unknown, malformed or another tenant's.
ApiError job_not_found(std::string_view job_id);
// A broker error about a job as the client sees it: not_found as job_not_found(job_id),
// anything else as from_broker.
ApiError job_error(const Status& broker_error, std::string_view job_id);

}  // namespace rs::gateway
