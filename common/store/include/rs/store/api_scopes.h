// API key scopes (docs/HTTP.md "Keys and scopes"): what a gateway key may do, as a bit set
// stored with the key's hash. Pure functions; any thread. `infer`: generation endpoints
// and /v1/models; `jobs:read`: read, resume and cancel the key's own tenant's jobs;
// `admin`: the /v1/admin/ endpoints and any tenant's jobs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rs/core/result.h"

namespace rs::store {

using ApiScopes = uint32_t;
constexpr ApiScopes kScopeInfer = 1u << 0;
constexpr ApiScopes kScopeJobsRead = 1u << 1;
constexpr ApiScopes kScopeAdmin = 1u << 2;
constexpr ApiScopes kScopesAll = kScopeInfer | kScopeJobsRead | kScopeAdmin;
// A new key's scopes, and those of a key stored before scopes existed.
constexpr ApiScopes kDefaultScopes = kScopeInfer | kScopeJobsRead;

// "infer,jobs:read" -> bits. invalid_argument for an empty list or an unknown scope
// (spaces around names are allowed; duplicates are harmless).
Result<ApiScopes> parse_scopes(std::string_view text);
// Bits -> "infer,jobs:read,admin" (that order; "" for none).
std::string scopes_text(ApiScopes scopes);
// The name of one scope bit ("infer", "jobs:read", "admin").
std::string_view scope_name(ApiScopes scope);

// What a gateway needs of one key: whose it is and what it may do.
struct ApiKeyGrant {
  std::string tenant;
  ApiScopes scopes = kDefaultScopes;

  bool operator==(const ApiKeyGrant&) const = default;
};

}  // namespace rs::store
