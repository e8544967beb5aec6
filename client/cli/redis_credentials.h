// The Redis users' passwords of a `ringserve up` directory (VAR/keys/redis-<role>.password,
// VAR/redis.acl for its redis-server) and how the CLI's Redis commands find their own
// credentials: flags, else the redis:// URL, else RINGSERVE_REDIS_USER and
// RINGSERVE_REDIS_PASSWORD_FILE, else the `cli` user of ./var when Redis came from ./var/redis.
// Main thread only.
#pragma once

#include <string>
#include <string_view>

#include "rs/core/result.h"
#include "rs/store/redis_acl.h"
#include "rs/store/redis_connection.h"

namespace rs::cli {

// VAR/keys/redis-<role>.password
std::string redis_password_path(const std::string& var_dir, store::RedisRole role);
// VAR/redis.acl
std::string redis_acl_path(const std::string& var_dir);

// Makes VAR/keys (0700) and, for each role, its password file (0600; 32 random bytes in hex)
// unless it exists already (then it is reused: a restarted pool keeps its passwords); then
// writes VAR/redis.acl (0600) for redis-server's --aclfile: one user per role; `default` with a password nobody has (rs/store/redis_acl.h).
Status ensure_redis_credentials(const std::string& var_dir, std::string_view key_prefix = "rs:");

// The CLI's Redis: address from --redis / RINGSERVE_REDIS / ./var/redis; user and password
// as said at the top. A warning about the password file goes to stderr.
struct CliRedisFlags {
  std::string address;  // --redis
  std::string user;     // --redis-user
  std::string password_file;  // --redis-password-file
};
Result<store::RedisOptions> resolve_cli_redis(const CliRedisFlags& flags);

}  // namespace rs::cli
