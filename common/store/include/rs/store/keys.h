// KeySpace: the Redis key names of ringserve (docs/REDIS.md). One prefix per deployment,
// so several pools (or tests) can share a Redis. A plain value; any thread.
#pragma once

#include <string>
#include <string_view>

namespace rs::store {

struct KeySpace {
  std::string prefix = "rs:";

  std::string job(std::string_view job_id) const;          // HASH   rs:job:<id>
  std::string idempotency(std::string_view key) const;     // STRING rs:idem:<key> -> job id
  std::string tokens(std::string_view job_id) const;       // STREAM rs:tokens:<id>
  std::string dead_letter() const;                         // LIST   rs:dead
  std::string live() const;                                // ZSET   rs:live (job id by created_ms)

  // Batch pipelines (batch_streams.h).
  std::string ingest() const;                               // STREAM rs:ingest
  std::string batch(std::string_view batch_id) const;       // HASH   rs:batch:<id>
  std::string batch_results(std::string_view batch_id) const;  // STREAM rs:batch:<id>:results

  // Model registry (ModelRegistry). <part> is versions|next|active|history|v:<n>.
  std::string models_names() const;                         // SET    rs:models:names
  std::string models_epoch() const;                         // STRING rs:models:epoch
  std::string models_channel() const;                       // PUBSUB rs:models:events
  std::string model(std::string_view name, std::string_view part) const;  // rs:models:<name>:<part>

  // API keys of the gateway (ApiKeys).
  std::string api_keys() const;          // HASH   rs:apikeys (sha256 -> record)
  std::string api_key_ids() const;       // HASH   rs:apikeys:ids (id -> sha256)
  std::string api_keys_version() const;  // STRING rs:apikeys:version (INCR per change)
};

}  // namespace rs::store
