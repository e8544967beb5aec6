#include "rs/store/redis_reply.h"

#include <string_view>

namespace rs::store {

Status RedisReply::error_status(std::string_view context) const {
  if (!is_error()) return {};
  std::string m(context);
  m += ": redis: ";
  m += str;
  // LOADING / BUSY / MASTERDOWN / READONLY: transient server states.
  for (std::string_view transient : {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN"}) {
    if (std::string_view(str).substr(0, transient.size()) == transient) {
      return {StatusCode::kUnavailable, std::move(m)};
    }
  }
  // NOAUTH / NOPERM / WRONGPASS: our credentials or the user's rights (an ACL refusal).
  for (std::string_view denied : {"NOAUTH", "NOPERM", "WRONGPASS"}) {
    if (std::string_view(str).substr(0, denied.size()) == denied) {
      return {StatusCode::kPermissionDenied, std::move(m)};
    }
  }
  // The same refusal met by a command inside a Lua script comes back as an ERR.
  if (str.find("ERR The user executing the script can't") != std::string::npos) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  return {StatusCode::kInternal, std::move(m)};
}

}  // namespace rs::store
