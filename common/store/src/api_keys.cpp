#include "rs/store/api_keys.h"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>

#include "field_text.h"
#include "rs/store/file_sha256.h"

namespace rs::store {
namespace {

constexpr std::string_view kKeyPrefix = "rsk-";
constexpr size_t kSecretChars = 40;
constexpr size_t kIdChars = 12;  // "rsk-" + 8
constexpr int kAddAttempts = 3;  // a fresh key when the id (or hash) is taken

// KEYS: keys HASH, ids HASH, version. ARGV: sha256, id, record.
// Returns the new version, or 0 (nothing written) when the id or hash exists already.
constexpr const char* kAddScript = R"lua(
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 or redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return redis.call('INCR', KEYS[3])
)lua";

// ARGV: the argument as an id, its sha256 (as if it were the key). Returns the new
// version, or 0 (nothing written) when neither names a key.
constexpr const char* kRevokeScript = R"lua(
local id = ARGV[1]
local sha = redis.call('HGET', KEYS[2], id)
if not sha then
  local rec = redis.call('HGET', KEYS[1], ARGV[2])
  if not rec then return 0 end
  sha = ARGV[2]
  id = string.match(rec, '^(%S+)')
end
redis.call('HDEL', KEYS[1], sha)
if id then redis.call('HDEL', KEYS[2], id) end
return redis.call('INCR', KEYS[3])
)lua";

// 40 characters of [0-9A-Za-z], uniform: bytes >= 248 (= 4 * 62) are drawn again.
Result<std::string> random_base62(size_t n) {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  unsigned char buf[64];
  while (out.size() < n) {
    if (RAND_bytes(buf, sizeof buf) != 1) return internal_error("api key: RAND_bytes failed");
    for (unsigned char b : buf) {
      if (b < 248 && out.size() < n) out.push_back(kAlphabet[b % 62]);
    }
  }
  return out;
}

uint64_t now_unix_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

// The record stored under a key's hash: "<id> <created_ms> <tenant> <scopes>" (the tenant
// has no spaces; scopes as "infer,jobs:read"). A record of a key made before scopes
// existed ends at the tenant: it has the default scopes.
std::string encode_record(const ApiKeyInfo& info) {
  return info.id + " " + std::to_string(info.created_ms) + " " + info.tenant + " " +
         scopes_text(info.scopes);
}

Result<ApiKeyInfo> decode_record(std::string_view rec) {
  size_t a = rec.find(' ');
  size_t b = a == std::string_view::npos ? a : rec.find(' ', a + 1);
  ApiKeyInfo info;
  if (b == std::string_view::npos ||
      !detail::parse_num(rec.substr(a + 1, b - a - 1), info.created_ms)) {
    return corrupt("api key record: want '<id> <created_ms> <tenant>', got '" + std::string(rec) +
                   "'");
  }
  info.id = std::string(rec.substr(0, a));
  const size_t c = rec.find(' ', b + 1);
  info.tenant = std::string(rec.substr(b + 1, c == std::string_view::npos ? c : c - b - 1));
  if (c == std::string_view::npos) return info;
  auto scopes = parse_scopes(rec.substr(c + 1));
  if (!scopes.ok()) return corrupt("api key record '" + info.id + "': " + scopes.status().message());
  info.scopes = *scopes;
  return info;
}

// {field, value, field, value, ...} of an HGETALL -> decoded records by field (the hash).
Result<std::vector<std::pair<std::string, ApiKeyInfo>>> decode_all(const RedisReply& reply) {
  std::vector<std::pair<std::string, ApiKeyInfo>> out;
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    RS_ASSIGN_OR_RETURN(ApiKeyInfo info, decode_record(reply.elements[i + 1].str));
    out.emplace_back(reply.elements[i].str, std::move(info));
  }
  return out;
}

RedisCommand script(const KeySpace& k, const char* body, std::string a, std::string b) {
  return {"EVAL",       body,        "3", k.api_keys(), k.api_key_ids(), k.api_keys_version(),
          std::move(a), std::move(b)};
}

}  // namespace

std::string api_key_hash(std::string_view key) {
  return sha256_hex(key.data(), key.size());
}

Status check_tenant(std::string_view tenant) {
  bool ok = !tenant.empty() && tenant.size() <= 64 &&
            std::all_of(tenant.begin(), tenant.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-';
            });
  if (ok) return {};
  return invalid_argument("tenant '" + std::string(tenant) + "': want 1-64 of [A-Za-z0-9._-]");
}

ApiKeys::ApiKeys(RedisConnection& conn, ApiKeysOptions options)
    : conn_(conn), options_(std::move(options)) {}

Result<RedisReply> ApiKeys::run(const RedisCommand& command, std::string_view what) {
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(command));
  RS_RETURN_IF_ERROR(reply.error_status(what));
  return reply;
}

Result<NewApiKey> ApiKeys::add(const std::string& tenant, ApiScopes scopes) {
  RS_RETURN_IF_ERROR(check_tenant(tenant));
  if ((scopes & kScopesAll) == 0) return invalid_argument("api key: no scope");
  for (int attempt = 0; attempt < kAddAttempts; ++attempt) {
    RS_ASSIGN_OR_RETURN(std::string secret, random_base62(kSecretChars));
    NewApiKey out{std::string(kKeyPrefix) + secret, "", tenant, scopes & kScopesAll};
    out.id = out.key.substr(0, kIdChars);
    ApiKeyInfo info{out.id, tenant, now_unix_ms(), out.scopes};
    RedisCommand c = script(options_.keys, kAddScript, api_key_hash(out.key), out.id);
    c.push_back(encode_record(info));
    RS_ASSIGN_OR_RETURN(RedisReply reply, run(c, "add api key"));
    if (!reply.is_integer()) return internal_error("add api key: unexpected reply from redis");
    if (reply.integer > 0) return out;
  }
  return internal_error("add api key: the new key's id was taken " + std::to_string(kAddAttempts) +
                        " times");
}

Result<std::vector<ApiKeyInfo>> ApiKeys::list() {
  RS_ASSIGN_OR_RETURN(RedisReply reply,
                      run({"HGETALL", options_.keys.api_keys()}, "list api keys"));
  RS_ASSIGN_OR_RETURN(auto records, decode_all(reply));
  std::vector<ApiKeyInfo> out;
  out.reserve(records.size());
  for (auto& [hash, info] : records) out.push_back(std::move(info));
  std::sort(out.begin(), out.end(), [](const ApiKeyInfo& a, const ApiKeyInfo& b) {
    return a.created_ms != b.created_ms ? a.created_ms < b.created_ms : a.id < b.id;
  });
  return out;
}

Status ApiKeys::revoke(const std::string& id_or_key) {
  // The argument is passed both as an id and as a key's hash: the script tries both.
  RedisCommand c = script(options_.keys, kRevokeScript, id_or_key, api_key_hash(id_or_key));
  RS_ASSIGN_OR_RETURN(RedisReply reply, run(c, "revoke api key"));
  if (!reply.is_integer()) return internal_error("revoke api key: unexpected reply from redis");
  if (reply.integer == 0) {
    // Never echo a whole key in an error: its id (first 12 characters) is enough.
    return not_found("api key '" + id_or_key.substr(0, kIdChars) + "': no such key");
  }
  return {};
}

Result<std::unordered_map<std::string, ApiKeyGrant>> ApiKeys::load_all() {
  RS_ASSIGN_OR_RETURN(RedisReply reply,
                      run({"HGETALL", options_.keys.api_keys()}, "load api keys"));
  RS_ASSIGN_OR_RETURN(auto records, decode_all(reply));
  std::unordered_map<std::string, ApiKeyGrant> out;
  out.reserve(records.size());
  for (auto& [hash, info] : records) {
    out.emplace(std::move(hash), ApiKeyGrant{std::move(info.tenant), info.scopes});
  }
  return out;
}

Result<uint64_t> ApiKeys::version() {
  RS_ASSIGN_OR_RETURN(RedisReply reply,
                      run({"GET", options_.keys.api_keys_version()}, "api keys version"));
  uint64_t v = 0;
  if (reply.is_nil()) return v;
  if (!detail::parse_num(reply.str, v)) {
    return corrupt("api keys version: not a number: " + reply.str);
  }
  return v;
}

}  // namespace rs::store
