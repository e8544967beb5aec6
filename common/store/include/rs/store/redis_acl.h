// The Redis ACL users of ringserve, one per role, with least privilege: the one place that
// says which commands and key patterns each program may use (docs/REDIS.md, "Users and
// passwords"), rendered from the key prefix as the lines of a redis-server aclfile. Plain
// functions; any thread (`ringserve up` and `ringserve redis-acl` call them at startup).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rs/core/result.h"

namespace rs::store {

enum class RedisRole { kBroker, kWorker, kGateway, kCli };
inline constexpr std::array<RedisRole, 4> kRedisRoles = {RedisRole::kBroker, RedisRole::kWorker,
                                                         RedisRole::kGateway, RedisRole::kCli};

// "broker", "worker", "gateway", "cli": also the Redis user's name.
std::string_view redis_role_name(RedisRole role);

// The role's rules after its password: `-@all +cmd ... ~pattern ... &channel`, for keys
// under `prefix` (default "rs:"). invalid_argument for a prefix Redis cannot hold in one
// ACL word (empty, or with whitespace).
Result<std::string> redis_acl_rules(RedisRole role, std::string_view prefix);

// A whole aclfile: the `default` user, then one `user <role> on #<sha256> <rules>` line per
// (role, password) given. Passwords are stored only as their SHA-256. `default` has a
// random password nobody knows (an unauthenticated client gets NOAUTH) and the writes of the
// prefix's keys, which Redis 7.0 needs to replay its AOF (redis_acl.cpp says why).
Result<std::string> redis_acl_file(const std::vector<std::pair<RedisRole, std::string>>& passwords,
                                   std::string_view prefix);

// 32 random bytes (OpenSSL RAND_bytes) as 64 lowercase hex digits.
Result<std::string> random_redis_password();

}  // namespace rs::store
