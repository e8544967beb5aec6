// The ACL rules per role. Each list is what the code sends (commands, and the commands its
// Lua scripts call, which Redis checks too) and the keys it touches; keep it in step when a
// program starts to use a new command or key (the ACL tests and `ringserve up` fail first).
#include "rs/store/redis_acl.h"

#include <openssl/rand.h>

#include "rs/store/file_sha256.h"

namespace rs::store {
namespace {

struct RoleRules {
  const char* commands;  // separated by spaces, each given `+`
  std::vector<std::string> keys;      // after the prefix; `%R~` when read-only
  std::vector<std::string> read_keys;
  std::vector<std::string> channels;  // after the prefix
};

// broker: jobs, idempotency keys, token streams, the live set, dead letters, the ingest
// stream, batch hashes and result streams (all of it read-write, writes mostly through EVAL);
// the model registry read-only.
RoleRules broker_rules() {
  return {"ping get set del exists expire hset hget hgetall hmget zadd zrem zrange lrange lpush lpos "
          "smembers xadd xrange xrevrange xlen xreadgroup xack xautoclaim xpending xtrim "
          "xgroup|create xinfo|groups eval",
          {"job:*", "idem:*", "tokens:*", "live", "dead", "ingest", "batch:*"},
          {"models:*"},
          {}};
}

// worker: reads the registry (routing, records), subscribes to its events, and records a
// load failure on a version (ModelRegistry::set_error: one EVAL that HSETs the version's
// `error`, INCRs the epoch and PUBLISHes). No job, token, batch or API key.
RoleRules worker_rules() {
  return {"ping get exists hmget hgetall smembers eval incr publish zscore hset subscribe",
          {"models:*"},
          {},
          {"models:events"}};
}

// gateway: reads the API keys (their version, the table, one key's record). Nothing else.
RoleRules gateway_rules() {
  return {"ping get hget hgetall", {}, {"apikeys", "apikeys:version"}, {}};
}

// cli: `ringserve models` (registry scripts), `keys` (API key scripts), `batch run|status`
// (ingest stream, batch hashes, result streams with its group), `jobs dead` (reads the dead
// letters' jobs, LREMs a retried one). Jobs are read-only; no token stream.
RoleRules cli_rules() {
  return {"ping get set del exists incr hset hsetnx hget hgetall hmget hdel hexists zadd zrem "
          "zrange zscore zcard sadd srem smembers lpush lpop ltrim lrem lrange xadd xrange xlen "
          "xreadgroup xack xgroup|create eval publish",
          {"models:*", "apikeys", "apikeys:*", "ingest", "batch:*", "dead"},
          {"job:*"},
          {"models:events"}};
}

RoleRules rules_of(RedisRole role) {
  switch (role) {
    case RedisRole::kBroker: return broker_rules();
    case RedisRole::kWorker: return worker_rules();
    case RedisRole::kGateway: return gateway_rules();
    case RedisRole::kCli: return cli_rules();
  }
  return {};
}

// A glob for keys under the prefix: the prefix's own glob characters escaped.
std::string glob_prefix(std::string_view prefix) {
  std::string out;
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string_view redis_role_name(RedisRole role) {
  switch (role) {
    case RedisRole::kBroker: return "broker";
    case RedisRole::kWorker: return "worker";
    case RedisRole::kGateway: return "gateway";
    case RedisRole::kCli: return "cli";
  }
  return "unknown";
}

Result<std::string> redis_acl_rules(RedisRole role, std::string_view prefix) {
  if (prefix.empty() || prefix.find_first_of(" \t\r\n\v\f\"'") != std::string_view::npos) {
    return invalid_argument("key prefix '" + std::string(prefix) + "' cannot go into an ACL rule");
  }
  const RoleRules r = rules_of(role);
  const std::string p = glob_prefix(prefix);
  std::string out = "resetkeys resetchannels -@all";
  std::string_view commands = r.commands;
  while (!commands.empty()) {
    size_t sp = commands.find(' ');
    out += " +" + std::string(commands.substr(0, sp));
    commands.remove_prefix(sp == std::string_view::npos ? commands.size() : sp + 1);
  }
  for (const std::string& k : r.keys) out += " ~" + p + k;
  for (const std::string& k : r.read_keys) out += " %R~" + p + k;
  for (const std::string& c : r.channels) out += " &" + p + c;
  return out;
}

namespace {

// The `default` user. Plainly `off` would lose data: Redis 7.0 (Debian 12's 7.0.15) replays
// the AOF as `default` and re-checks its rights at each EXEC, and the effects of every
// script (and of XREADGROUP / XAUTOCLAIM) are logged as MULTI ... EXEC, so with `default`
// off they are dropped, silently, at the next start (redis/redis#14541, fixed upstream by
// #14545). So `default` stays on with the writes of the prefix's keys and no administrative
// command, behind a random password that is thrown away at once: no client can log in as
// it, and one that does not AUTH gets NOAUTH for every command all the same.
Result<std::string> default_user_line(std::string_view prefix) {
  RS_ASSIGN_OR_RETURN(std::string unusable, random_redis_password());
  return "user default on #" + sha256_hex(unusable.data(), unusable.size()) +
         " resetkeys resetchannels -@all +@write -@dangerous ~" + glob_prefix(prefix) + "*\n";
}

}  // namespace

Result<std::string> redis_acl_file(const std::vector<std::pair<RedisRole, std::string>>& passwords,
                                   std::string_view prefix) {
  RS_RETURN_IF_ERROR(redis_acl_rules(RedisRole::kCli, prefix).status());  // the prefix fits a rule
  RS_ASSIGN_OR_RETURN(std::string out, default_user_line(prefix));
  for (const auto& [role, password] : passwords) {
    if (password.empty()) return invalid_argument("redis user " + std::string(redis_role_name(role)) + ": empty password");
    RS_ASSIGN_OR_RETURN(std::string rules, redis_acl_rules(role, prefix));
    out += "user " + std::string(redis_role_name(role)) + " on #" +
           sha256_hex(password.data(), password.size()) + " " + rules + "\n";
  }
  return out;
}

Result<std::string> random_redis_password() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) return internal_error("redis password: RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof buf);
  for (unsigned char b : buf) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace rs::store
