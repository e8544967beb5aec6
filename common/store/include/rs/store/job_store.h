// JobStore: job records in Redis (one HASH per job), idempotency keys, state transitions
// with fencing by attempt, and the dead-letter list. Uses a RedisConnection it does not own;
// same threading as that connection (one thread). Every call is one round trip; the
// *_command / parse_*_reply pairs let the broker pipeline many jobs' writes per loop turn.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rs/core/result.h"
#include "rs/schemas/job_transition.h"
#include "rs/schemas/messages.h"
#include "rs/store/keys.h"
#include "rs/store/redis_connection.h"

namespace rs::store {

struct JobStoreOptions {
  KeySpace keys;
  int64_t idempotency_ttl_s = 24 * 3600;  // 0 = keep forever
  int64_t finished_ttl_s = 0;             // TTL set on a job hash when it ends; 0 = keep
  // true: each transition is a Lua check-and-set (state and attempt checked in Redis).
  // false: a plain HSET (~2x faster) for a single writer that already checks state and
  // fences attempts in memory (the broker); finished_ttl_s is then not applied.
  bool checked_transitions = true;
};

struct CreateResult {
  std::string job_id;    // the new job, or the first job with the same idempotency key
  bool created = false;  // false: a resubmission (idempotency key seen before)
};

// One state change (rs/schemas/job_transition.h): allowed changes and fencing by attempt.
using Transition = schemas::JobTransition;

// More for a create (ingest): extra hash fields (e.g. batch, item_id), and an ingest entry
// to XACK in the same script once the job is stored or found to exist already.
struct CreateExtras {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string ack_stream;  // "" = no XACK
  std::string ack_group;
  std::string ack_entry;
};

// Fields of a job hash to set (name, value), in order; a repeated name: the last wins.
using HashFields = std::vector<std::pair<std::string, std::string>>;

// A job that had not ended, read back with its request (broker restart recovery).
struct StoredJob {
  schemas::JobRecord record;
  schemas::SubmitRequest request;
  std::string batch;    // hash field `batch` ("" = none)
  std::string item_id;  // hash field `item_id`
};

class JobStore {
 public:
  explicit JobStore(RedisConnection& conn, JobStoreOptions options = {});

  // Writes the record (state QUEUED expected) and the request. With an idempotency key:
  // atomically SET NX the key first; if it existed, nothing is written and the first
  // job's id is returned with created=false.
  Result<CreateResult> create(const schemas::JobRecord& record, const schemas::SubmitRequest& request);
  Status transition(std::string_view job_id, const Transition& t);
  // not_found when the job does not exist; corrupt when its hash cannot be parsed.
  Result<schemas::JobRecord> load(std::string_view job_id);
  Result<schemas::SubmitRequest> load_request(std::string_view job_id);
  // The job id stored under an idempotency key, or nullopt.
  Result<std::optional<std::string>> find_idempotent(std::string_view key);
  Status push_dead_letter(std::string_view job_id);
  Result<std::vector<std::string>> dead_letters(int64_t start = 0, int64_t stop = -1);

  // Building blocks for pipelines (RedisConnection::pipeline), one reply per command.
  RedisCommand create_command(const schemas::JobRecord& record, const schemas::SubmitRequest& request) const;
  // With an idempotency key (required); the reply parses with parse_create_reply.
  RedisCommand create_command(const schemas::JobRecord& record, const schemas::SubmitRequest& request,
                              const CreateExtras& extras) const;
  static Result<CreateResult> parse_create_reply(const RedisReply& reply, std::string_view job_id);
  // load() in a pipeline: not_found when the hash is empty.
  RedisCommand load_command(std::string_view job_id) const;
  static Result<schemas::JobRecord> parse_load_reply(const RedisReply& reply, std::string_view job_id);
  RedisCommand transition_command(std::string_view job_id, const Transition& t) const;
  // The hash fields a transition sets: what an unchecked transition writes (the broker
  // fences state and attempts in memory and merges a turn's fields per job).
  static HashFields transition_fields(const Transition& t);
  // The same fields appended as name, value arguments to a command (begin_set_fields).
  static void append_transition_fields(const Transition& t, RedisCommand& command);
  // "HSET <job hash>", with room for n_fields more name, value pairs: append the fields.
  RedisCommand begin_set_fields(std::string_view job_id, size_t n_fields) const;
  // One HSET of a job's hash (its reply is an integer).
  RedisCommand set_fields_command(std::string_view job_id, const HashFields& fields) const;
  static Status parse_transition_reply(const RedisReply& reply, std::string_view job_id, schemas::JobState to);
  // Idempotent: a job is dead-lettered once however often the command is applied.
  RedisCommand dead_letter_command(std::string_view job_id) const;
  // Removes a job whose SUBMIT was refused after its create was staged: its hash, its live
  // index entry and its idempotency key (if it still names this job). Idempotent.
  RedisCommand discard_command(std::string_view job_id, std::string_view idempotency_key) const;
  // The live-job index (ZSET by created_ms): a job enters before its hash is written and
  // leaves after its terminal transition, so a restarted broker finds every job not ended.
  RedisCommand live_add_command(std::string_view job_id, uint64_t created_ms) const;
  RedisCommand live_remove_command(std::string_view job_id) const;
  // The job hash expires after ttl_s (an ended job's record, JobStoreOptions::finished_ttl_s).
  RedisCommand expire_command(std::string_view job_id, int64_t ttl_s) const;
  // Every job of the index that has not ended, oldest first, read in pipelined chunks.
  // Index entries whose hash is gone or ended are removed; a hash that does not parse is
  // skipped (and logged in `skipped`).
  Result<std::vector<StoredJob>> load_live(std::vector<std::string>* skipped = nullptr,
                                           size_t chunk = 512);

  const JobStoreOptions& options() const { return options_; }

 private:
  RedisConnection& conn_;
  JobStoreOptions options_;
};

// Hash field <-> record conversion (exposed for tools and tests).
std::vector<std::pair<std::string, std::string>> job_to_fields(const schemas::JobRecord& record);
// The fields of job_to_fields whose value differs from a default record's, plus job_id and
// state always, appended as name, value arguments (what a create writes; load() fills in
// the defaults).
void append_record_fields(const schemas::JobRecord& record, RedisCommand& command);
// Only the usage fields (as job_to_fields writes them).
void usage_to_fields(const schemas::Usage& usage, HashFields& out);
Result<schemas::JobRecord> job_from_fields(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace rs::store
