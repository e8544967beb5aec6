// CURVE key files and allow-lists on disk, for `ringserve keys zmq` and `ringserve up`
// (docs/SECURITY.md): NAME.key (0600, with the secret), NAME.pub, and the allow-lists
// workers.allow / clients.allow ("ROLE NAME PUBLIC-KEY [TENANT]" per line), which the
// broker re-reads when they change. Main thread only.
#pragma once

#include <string>
#include <vector>

#include "rs/core/result.h"

namespace rs::cli {

struct CurveKeyRequest {
  std::string dir = "var/keys";
  std::string role;    // worker | client | gateway | broker
  std::string name;    // 1-64 of [A-Za-z0-9._-]
  std::string tenant;  // client keys: required
  bool replace = false;  // a key of that name exists: replace it (rotation; the old one is revoked)
};

struct CurveKeyIssued {
  std::string key_path;    // NAME.key
  std::string pub_path;    // NAME.pub
  std::string allow_list;  // the list it was added to ("" for the broker's own key)
  std::string public_key;
};

// The allow-list a role's keys go on (dir/workers.allow or dir/clients.allow).
std::string allow_list_path(const std::string& dir, const std::string& role);
Result<CurveKeyIssued> issue_curve_key(const CurveKeyRequest& request);
// Removes NAME from the allow-list(s) in dir (the key files stay). not_found if not listed.
Result<std::vector<std::string>> revoke_curve_key(const std::string& dir, const std::string& name);

struct ListedCurveKey {
  std::string role, name, public_key, tenant, list;
};
Result<std::vector<ListedCurveKey>> list_curve_keys(const std::string& dir);

}  // namespace rs::cli
