// Access rules: scope checks, the tenant rule for jobs, the one job 404.
#include "access.h"

#include "rs/schemas/errors.h"

namespace rs::gateway {

namespace {

ApiError forbidden(std::string message) {
  return ApiError{.status = 403,
                  .type = "permission_error",
                  .code = "insufficient_scope",
                  .message = std::move(message)};
}

}  // namespace

std::optional<ApiError> require_scope(const Caller& caller, store::ApiScopes scope) {
  if ((caller.scopes & scope) == scope) return std::nullopt;
  return forbidden("this API key lacks the '" + std::string(store::scope_name(scope)) +
                   "' scope");
}

std::optional<ApiError> require_job_access(const Caller& caller) {
  if ((caller.scopes & (store::kScopeJobsRead | store::kScopeAdmin)) != 0) return std::nullopt;
  return forbidden("this API key lacks the 'jobs:read' scope");
}

bool may_access_job(const Caller& caller, std::string_view job_tenant) {
  if ((caller.scopes & store::kScopeAdmin) != 0) return true;
  return (caller.scopes & store::kScopeJobsRead) != 0 && job_tenant == caller.tenant;
}

ApiError job_not_found(std::string_view job_id) {
  return not_found("job_not_found", "no job '" + std::string(job_id) + "'");
}

ApiError job_error(const Status& broker_error, std::string_view job_id) {
  if (schemas::wire_error_of(broker_error) == schemas::ErrorCode::kNotFound) {
    return job_not_found(job_id);
  }
  return from_broker(broker_error);
}

}  // namespace rs::gateway
