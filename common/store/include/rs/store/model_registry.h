// ModelRegistry: model names, their numbered versions and the active version of each,
// in Redis (docs/REDIS.md "Model registry"). Every change is one Lua script that also
// bumps the registry epoch and PUBLISHes "<epoch> <name> <op> <version>" on the events
// channel. Uses a RedisConnection it does not own; same threading as that connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rs/core/result.h"
#include "rs/store/keys.h"
#include "rs/store/redis_connection.h"

namespace rs::store {

struct ModelRegistryOptions {
  KeySpace keys;
  int64_t history_limit = 32;  // activation history kept per name (for rollback)
};

// One version of a model (a HASH rs:models:<name>:v:<version>).
struct ModelVersion {
  std::string name;
  uint32_t version = 0;  // assigned by add_version: 1, 2, 3, ... never reused
  std::string path;
  uint64_t size_bytes = 0;
  std::string sha256;
  std::string architecture;
  std::string tensor_type;
  uint64_t created_ms = 0;
  std::string note;
  std::string error;    // set by set_error (e.g. a worker failed to load it)
  std::string chat_template;  // a chat template replacing the GGUF's ("" = the GGUF's own)
  // Chat as checked when the version was added: "gguf" or "file" (a template that parses),
  // else "unavailable: <reason>"; "" for records written before chat existed.
  std::string chat;
  bool active = false;          // filled in by reads; ignored by add_version
  uint32_t canary_percent = 0;  // filled in by reads: > 0 when this version is the canary

  bool operator==(const ModelVersion&) const = default;
};

// Which versions of a name take new jobs: the active one, and the canary (if any) for
// canary_percent % of new sessions. 0 = none.
struct ModelRouting {
  std::string name;
  uint32_t active = 0;
  uint32_t canary = 0;
  uint32_t canary_percent = 0;
  void mark(ModelVersion& m) const {
    m.active = m.version == active;
    m.canary_percent = m.version == canary ? canary_percent : 0;
  }
  bool operator==(const ModelRouting&) const = default;
};

// A message of the events channel, "<epoch> <name> <op> <version>".
struct ModelEvent {
  uint64_t epoch = 0;
  std::string name;
  std::string op;  // add | activate | canary | rollback | remove | error
  uint32_t version = 0;
};
Result<ModelEvent> parse_model_event(std::string_view message);

class ModelRegistry {
 public:
  explicit ModelRegistry(RedisConnection& conn, ModelRegistryOptions options = {});

  // Stores the record under the next version number of record.name; returns it.
  // invalid_argument for a bad name (1-128 of [A-Za-z0-9._-]).
  Result<uint32_t> add_version(const ModelVersion& record);
  // canary_percent 0 (or 100): makes version the active one, the previous active goes onto
  // the history and any canary is withdrawn. 1-99: makes version the canary for that share
  // of new sessions; the active version stays (invalid_argument if there is none, or if
  // version is the active one). not_found for an unknown name or version. Activating the
  // active version when there is no canary changes nothing.
  Status activate(std::string_view name, uint32_t version, uint32_t canary_percent = 0);
  // Withdraws the canary if there is one (returns the active version); otherwise
  // reactivates the most recent previous active version that still exists and returns it.
  // invalid_argument when there is none, not_found for an unknown name.
  Result<uint32_t> rollback(std::string_view name);
  // Deletes a version. invalid_argument (refused) while it is active or the canary;
  // not_found if unknown.
  Status remove(std::string_view name, uint32_t version);
  Status set_error(std::string_view name, uint32_t version, std::string_view error);

  Result<ModelVersion> get(std::string_view name, uint32_t version);
  // Active and canary version of one name (not_found for an unknown name), of every name.
  Result<ModelRouting> routing(std::string_view name);
  Result<std::vector<ModelRouting>> routing_all();
  // The active version's record, or nullopt when none is active; not_found for an unknown name.
  Result<std::optional<ModelVersion>> active(std::string_view name);
  // Versions in ascending order; not_found for an unknown name.
  Result<std::vector<ModelVersion>> list(std::string_view name);
  // Every name (sorted), each name's versions ascending.
  Result<std::vector<ModelVersion>> list_all();
  // Incremented by every change; 0 before the first.
  Result<uint64_t> epoch();

  const ModelRegistryOptions& options() const { return options_; }

 private:
  Status check_name(std::string_view name) const;
  Result<RedisReply> run(const RedisCommand& command, std::string_view what);

  RedisConnection& conn_;
  ModelRegistryOptions options_;
};

// Hash field <-> record conversion (exposed for tools and tests); `active` is not stored.
std::vector<std::pair<std::string, std::string>> model_to_fields(const ModelVersion& record);
Result<ModelVersion> model_from_fields(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace rs::store
