// Access rules: scope checks (403 permission_error naming the scope), the tenant rule for
// jobs (own tenant with jobs:read, any with admin), and the one 404 body for a job that is
// unknown or another tenant's.
#include "access.h"

#include <gtest/gtest.h>

#include "rs/schemas/errors.h"

namespace rs::gateway {
namespace {

using store::kScopeAdmin;
using store::kScopeInfer;
using store::kScopeJobsRead;

TEST(AccessTest, MissingScopeIsA403PermissionError) {
  Caller infer_only{"acme", kScopeInfer};
  EXPECT_FALSE(require_scope(infer_only, kScopeInfer).has_value());
  auto e = require_scope(infer_only, kScopeAdmin);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 403);
  EXPECT_EQ(e->type, "permission_error");
  EXPECT_EQ(e->code, "insufficient_scope");
  EXPECT_NE(e->message.find("'admin'"), std::string::npos) << e->message;
  EXPECT_NE(error_body(*e).find("\"permission_error\""), std::string::npos);
  EXPECT_TRUE(require_job_access(infer_only).has_value());
  EXPECT_FALSE(require_job_access(Caller{"acme", kScopeJobsRead}).has_value());
  EXPECT_FALSE(require_job_access(Caller{"acme", kScopeAdmin}).has_value());
}

TEST(AccessTest, NoAuthCallerHoldsEveryScope) {
  Caller anyone;
  for (auto scope : {kScopeInfer, kScopeJobsRead, kScopeAdmin})
    EXPECT_FALSE(require_scope(anyone, scope).has_value());
  EXPECT_TRUE(may_access_job(anyone, "acme"));
  EXPECT_TRUE(may_access_job(anyone, ""));
}

TEST(AccessTest, JobsOfTheOwnTenantOnlyUnlessAdmin) {
  Caller a{"acme", store::kDefaultScopes};
  EXPECT_TRUE(may_access_job(a, "acme"));
  EXPECT_FALSE(may_access_job(a, "globex"));
  EXPECT_FALSE(may_access_job(a, "")) << "a job submitted past the gateway is admin's";
  EXPECT_FALSE(may_access_job(a, "acme2"));
  EXPECT_FALSE(may_access_job(Caller{"acme", kScopeInfer}, "acme")) << "no jobs:read";
  Caller admin{"ops", kScopeAdmin};
  EXPECT_TRUE(may_access_job(admin, "acme"));
  EXPECT_TRUE(may_access_job(admin, ""));
}

TEST(AccessTest, ForeignAndUnknownJobsGetTheSameBody) {
  const std::string id = "j-0123456789abcdef-1";
  ApiError foreign = job_not_found(id);
  ApiError unknown = job_error(
      schemas::wire_error(schemas::ErrorCode::kNotFound, "job j-0123456789abcdef-1 not in redis"),
      id);
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(error_body(foreign), error_body(unknown));
  ApiError busy = job_error(schemas::wire_error(schemas::ErrorCode::kUnavailable, "down"), id);
  EXPECT_EQ(busy.status, 503);
}

}  // namespace
}  // namespace rs::gateway
