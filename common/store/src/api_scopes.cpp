// API key scopes: parsing and printing the comma-separated list.
#include "rs/store/api_scopes.h"

#include <array>
#include <utility>

namespace rs::store {
namespace {

constexpr std::array<std::pair<ApiScopes, std::string_view>, 3> kScopeNames = {{
    {kScopeInfer, "infer"},
    {kScopeJobsRead, "jobs:read"},
    {kScopeAdmin, "admin"},
}};

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<ApiScopes> parse_scopes(std::string_view text) {
  ApiScopes out = 0;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view name = trimmed(text.substr(0, comma));
    ApiScopes bit = 0;
    for (const auto& [b, n] : kScopeNames) {
      if (n == name) bit = b;
    }
    if (bit == 0) {
      return invalid_argument("scope '" + std::string(name) +
                              "': want a comma-separated list of infer, jobs:read, admin");
    }
    out |= bit;
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return out;
}

std::string scopes_text(ApiScopes scopes) {
  std::string out;
  for (const auto& [bit, name] : kScopeNames) {
    if ((scopes & bit) == 0) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

std::string_view scope_name(ApiScopes scope) {
  for (const auto& [bit, name] : kScopeNames) {
    if (bit == scope) return name;
  }
  return "?";
}

}  // namespace rs::store
