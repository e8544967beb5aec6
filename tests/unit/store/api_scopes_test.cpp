// API key scopes: parsing the CLI's --scope list, printing it back, refusing unknown names.
#include "rs/store/api_scopes.h"

#include <gtest/gtest.h>

namespace rs::store {
namespace {

TEST(ApiScopesTest, ParsesCommaSeparatedNames) {
  EXPECT_EQ(parse_scopes("infer").value(), kScopeInfer);
  EXPECT_EQ(parse_scopes("jobs:read").value(), kScopeJobsRead);
  EXPECT_EQ(parse_scopes("admin").value(), kScopeAdmin);
  EXPECT_EQ(parse_scopes("infer,jobs:read,admin").value(), kScopesAll);
  EXPECT_EQ(parse_scopes(" admin , infer ").value(), kScopeInfer | kScopeAdmin);
  EXPECT_EQ(parse_scopes("infer,infer").value(), kScopeInfer);
}

TEST(ApiScopesTest, RefusesUnknownOrEmptyNames) {
  for (const char* bad : {"", ",", "infer,", "jobs", "jobs:write", "Infer", "infer;admin"}) {
    auto s = parse_scopes(bad);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << "'" << bad << "'";
  }
  EXPECT_NE(parse_scopes("infer,root").status().message().find("'root'"), std::string::npos);
}

TEST(ApiScopesTest, PrintsInAFixedOrderAndRoundTrips) {
  EXPECT_EQ(scopes_text(kDefaultScopes), "infer,jobs:read");
  EXPECT_EQ(scopes_text(kScopeAdmin | kScopeInfer), "infer,admin");
  EXPECT_EQ(scopes_text(0), "");
  for (ApiScopes s = 1; s <= kScopesAll; ++s) EXPECT_EQ(parse_scopes(scopes_text(s)).value(), s);
  EXPECT_EQ(scope_name(kScopeJobsRead), "jobs:read");
}

}  // namespace
}  // namespace rs::store
