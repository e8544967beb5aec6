// Batch pipelines in Redis (docs/REDIS.md "Ingest stream" and "Batch results"):
// IngestStream is the stream producers append jobs to without talking to the broker, read
// by brokers through a consumer group; BatchResults is one stream per batch that the broker
// appends each finished job of the batch to, drained by the pipeline through its own group.
// Both use a RedisConnection they do not own; same threading as that connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rs/core/result.h"
#include "rs/schemas/messages.h"
#include "rs/store/keys.h"
#include "rs/store/redis_connection.h"

namespace rs::store {

using StreamFields = std::vector<std::pair<std::string, std::string>>;

// One job for the ingest stream `<prefix>ingest`. Field names on the stream (all values
// text, so any language can XADD them): batch, id, model, prompt, max_tokens, temperature,
// top_k, top_p, min_p, repetition_penalty, seed, stop (a JSON array of strings), priority
// (interactive|batch; default batch), idempotency_key, session_id, affinity_key. Only model
// and prompt are required. Without an idempotency_key the broker uses
// "ingest:<batch>:<id>" when both are set, else "ingest:<entry id>", so an entry claimed
// again after a broker died never makes a second job.
// A SubmitRequest with the ingest defaults: priority batch, no streaming to a client.
inline schemas::SubmitRequest ingest_request_defaults() {
  schemas::SubmitRequest r;
  r.priority = schemas::Priority::kBatch;
  r.stream = false;
  return r;
}

struct IngestItem {
  std::string entry_id;  // the stream entry id (set by reads; ignored by append)
  std::string batch;     // "" = not part of a batch
  std::string item_id;   // the producer's id for this item, echoed in its result
  schemas::SubmitRequest request = ingest_request_defaults();
};

StreamFields ingest_to_fields(const IngestItem& item);
// invalid_argument naming the field for a missing model/prompt or a value that does not
// parse. (Limits are checked by the broker's usual SUBMIT validation, not here.)
Result<IngestItem> ingest_from_fields(std::string entry_id, const StreamFields& fields);

struct IngestEntry {  // as read: the fields, parsed or not (a bad entry is still acked)
  std::string entry_id;
  StreamFields fields;
};

struct IngestOptions {
  KeySpace keys;
  std::string group = "brokers";
  std::string consumer = "broker";  // this broker's name within the group
};

class IngestStream {
 public:
  IngestStream(RedisConnection& conn, IngestOptions options = {});

  // Producers: XADD; returns the entry id.
  Result<std::string> append(const IngestItem& item);
  // Consumers: creates the group (from the stream's start, MKSTREAM) unless it exists.
  Status ensure_group();
  // New entries for this consumer (XREADGROUP ... >), at most `count`; no blocking.
  Result<std::vector<IngestEntry>> read(size_t count);
  // Entries already delivered to this consumer and not acked (a previous life of the same
  // broker id), with ids after `after_id` ("0" to start), at most `count`.
  Result<std::vector<IngestEntry>> read_own_pending(std::string_view after_id, size_t count);
  // Entries pending on any consumer for at least min_idle_ms, moved to this consumer
  // (XAUTOCLAIM from 0-0, at most `count` per call; entries deleted meanwhile are dropped).
  Result<std::vector<IngestEntry>> claim_stale(int64_t min_idle_ms, size_t count);
  // XACK, to pipeline in the same round trip that stores the job.
  RedisCommand ack_command(std::string_view entry_id) const;
  // Entries in the stream / pending in the group (for status and tests).
  Result<uint64_t> length();
  Result<uint64_t> pending();
  // Brokers: deletes the entries the group has acknowledged (those before its oldest
  // pending entry; with none pending, those up to its last delivered one). Returns how many.
  Result<uint64_t> trim_acknowledged();

 private:
  RedisConnection& conn_;
  IngestOptions options_;
};

// The final record of a job of a batch, appended to `<prefix>batch:<batch>:results`.
// Fields: id, job_id, state, text, error_code, error, model, model_version, attempt,
// prompt_tokens, completion_tokens, queue_ms, ttft_ms, decode_tps, finished_ms.
struct BatchResult {
  std::string entry_id;  // set by reads
  std::string batch;
  std::string item_id;
  std::string text;      // the whole generated text
  schemas::JobRecord record;
};

StreamFields result_to_fields(const BatchResult& result);
Result<BatchResult> result_from_fields(std::string batch, std::string entry_id, const StreamFields& fields);

class BatchResults {
 public:
  explicit BatchResults(RedisConnection& conn, KeySpace keys = {});

  // Broker: XADD to the batch's stream, to pipeline with the job's terminal transition.
  RedisCommand append_command(const BatchResult& result) const;
  // Pipelines: a consumer group on the batch's results (created from the start).
  Status ensure_group(std::string_view batch, std::string_view group);
  // XREADGROUP of new results for (group, consumer), waiting up to block_ms (0: no wait).
  Result<std::vector<BatchResult>> read(std::string_view batch, std::string_view group,
                                        std::string_view consumer, size_t count, int64_t block_ms);
  // Results delivered to this consumer and not acked yet (to resume after a crash).
  Result<std::vector<BatchResult>> read_pending(std::string_view batch, std::string_view group,
                                                std::string_view consumer, size_t count);
  Status ack(std::string_view batch, std::string_view group, const std::vector<std::string>& entry_ids);
  Result<uint64_t> length(std::string_view batch);

 private:
  RedisConnection& conn_;
  KeySpace keys_;
};

}  // namespace rs::store
