// ApiKeys: the API keys of the HTTP gateway in Redis (docs/REDIS.md "API keys"). It owns
// no key in clear: only each key's SHA-256 is stored, with its tenant, created time and
// public id and scopes (api_scopes.h); add and revoke are one Lua script each that also INCRs the version. Uses a
// RedisConnection it does not own; same threading as that connection (one thread at a time).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rs/core/result.h"
#include "rs/store/api_scopes.h"
#include "rs/store/keys.h"
#include "rs/store/redis_connection.h"

namespace rs::store {

struct ApiKeysOptions {
  KeySpace keys;
};

// What add() hands back, the only time the key exists outside its owner's hands.
struct NewApiKey {
  std::string key;  // "rsk-" + 40 base62 characters: shown once, never stored
  std::string id;   // the key's first 12 characters ("rsk-" + 8): public, shown by list
  std::string tenant;
  ApiScopes scopes = kDefaultScopes;
};

// One stored key as list() shows it: never its hash, never the key.
struct ApiKeyInfo {
  std::string id;
  std::string tenant;
  uint64_t created_ms = 0;  // Unix ms
  ApiScopes scopes = kDefaultScopes;  // a key stored before scopes existed: the default

  bool operator==(const ApiKeyInfo&) const = default;
};

// SHA-256 of the key's bytes, 64 lowercase hex digits: what is stored, and what a gateway
// looks a presented key up by.
std::string api_key_hash(std::string_view key);

// ok, or invalid_argument unless the tenant is 1-64 characters of [A-Za-z0-9._-].
Status check_tenant(std::string_view tenant);

class ApiKeys {
 public:
  explicit ApiKeys(RedisConnection& conn, ApiKeysOptions options = {});

  // Makes a key from OpenSSL's RAND_bytes and stores its hash with the tenant and scopes.
  // invalid_argument for a bad tenant (check_tenant) or no scope.
  Result<NewApiKey> add(const std::string& tenant, ApiScopes scopes = kDefaultScopes);
  // Every key, oldest first (ties by id).
  Result<std::vector<ApiKeyInfo>> list();
  // Removes a key given its id or the key itself; from then on load_all() leaves it out and
  // version() is higher. not_found if no such key.
  Status revoke(const std::string& id_or_key);

  // For the gateway: sha256 hex (api_key_hash) -> tenant and scopes of every key. Read version()
  // first: a change between the two shows as a new version at the next poll.
  Result<std::unordered_map<std::string, ApiKeyGrant>> load_all();
  // INCRed by every add and revoke; 0 before the first. One GET: cheap to poll.
  Result<uint64_t> version();

  const ApiKeysOptions& options() const { return options_; }

 private:
  Result<RedisReply> run(const RedisCommand& command, std::string_view what);

  RedisConnection& conn_;
  ApiKeysOptions options_;
};

}  // namespace rs::store
