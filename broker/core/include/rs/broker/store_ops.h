// The broker's store effects as typed values: the writes BrokerState stages (one pipeline
// per loop turn, applied in order, each idempotent), the reads that follow a turn's writes
// in its pipeline, the reads of the StoreReader (registry, ingest, recovery), and what each
// gives back. BrokerState never sees a Redis command: the broker loop turns these into
// commands (rs_store) and the replies back into these results. Plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rs/broker/model_catalog.h"
#include "rs/broker/types.h"
#include "rs/core/result.h"
#include "rs/schemas/job_transition.h"
#include "rs/schemas/messages.h"

namespace rs::broker {

// --- Writes (a turn's pipeline) ---

// A change of a job's hash: a transition (its fields), the model version it runs, the time
// a re-registering worker adopted it. A turn's changes of one job become one write.
struct JobChange {
  std::optional<schemas::JobTransition> transition;
  std::optional<uint64_t> model_version;
  std::optional<uint64_t> adopted_ms;
};
// A job's record and request, once (a repeated create, or one whose idempotency key names
// another job, writes nothing: its result says which job it is). ingest_entry: the ingest
// stream entry acknowledged with it; batch / item_id: its batch (hash fields).
struct CreateJob {
  schemas::JobRecord record;
  schemas::SubmitRequest request;
  std::string batch;
  std::string item_id;
  std::string ingest_entry;
  // Changes of the job staged in the same turn, written with its creation (a job without
  // an idempotency key, admitted at once: its DISPATCHED). Empty for a keyed create.
  std::vector<JobChange> changes;
};
struct AddLive {  // into the live-job index, before the job's hash is written
  JobId job;
  uint64_t created_ms = 0;
};
struct RemoveLive {  // out of the live-job index (the job ended or never became one)
  JobId job;
};
struct SetJob {
  JobId job;
  std::vector<JobChange> changes;  // in order: a repeated field's last value wins
};
struct AppendTokens {  // one job's entries (idempotent by seq)
  std::vector<schemas::TokenEntry> entries;
};
// The token log's final marker (nothing can follow it), after the job's tokens of the
// same turn (`tokens`: written with the marker, one entry, when they are the log's last
// run of seqs).
struct FinishLog {
  JobId job;
  schemas::JobState state = schemas::JobState::kSucceeded;
  uint64_t n_tokens = 0;
  std::vector<schemas::TokenEntry> tokens;
};
struct DeadLetter {
  JobId job;
};
// Removes whatever of a refused SUBMIT reached the store (its hash, live entry and its
// idempotency key if that still names it).
struct DiscardJob {
  JobId job;
  std::string idempotency_key;
};
struct AckIngest {  // an ingest entry whose job exists already
  std::string entry;
};
struct ExpireJob {  // an ended job's hash expires after ttl_s
  JobId job;
  int64_t ttl_s = 0;
};
struct AppendBatchResult {  // a batch job's final record into its batch's results
  std::string batch;
  std::string item_id;
  std::string text;
  schemas::JobRecord record;
};

using StoreWrite = std::variant<CreateJob, AddLive, RemoveLive, SetJob, AppendTokens, FinishLog,
                                DeadLetter, DiscardJob, AckIngest, ExpireJob, AppendBatchResult>;

// --- Reads that follow a turn's writes (answered with the turn's batch) ---
struct LoadRecord {
  JobId job;
};
struct ReadTokens {  // the log's entries from from_seq: at most max_groups entries (0: all)
  JobId job;
  uint64_t from_seq = 0;
  size_t max_groups = 0;
};
using StoreRead = std::variant<LoadRecord, ReadTokens>;

// One turn's pipeline: its writes in order, then its reads.
struct StoreBatch {
  std::vector<StoreWrite> writes;
  std::vector<StoreRead> reads;
};

// --- What an applied batch gives back: one result per write and per read ---
struct CreateOutcome {
  std::string job_id;    // the new job, or the job its idempotency key names
  bool created = false;  // false: a resubmission
};
struct WriteResult {
  Status status;             // the store refused the write (it stays refused)
  size_t duplicates = 0;     // AppendTokens: groups the log held already (0: all new)
  CreateOutcome create;      // CreateJob
};
struct LogRead {
  std::vector<schemas::TokenEntry> entries;  // seq >= from_seq, in order
  bool finished = false;                     // the final marker was reached
  schemas::JobState final_state = schemas::JobState::kSucceeded;
  uint64_t n_tokens = 0;
};
struct ReadResult {
  Result<schemas::JobRecord> record = internal_error("not read");  // LoadRecord
  Result<LogRead> log = internal_error("not read");                // ReadTokens
};
struct BatchReplies {
  std::vector<WriteResult> writes;
  std::vector<ReadResult> reads;
};

// --- The StoreReader's reads (off the loop; each answered by an event) ---
// The registry's epoch; all of it when the epoch is not known_epoch.
struct ReadRegistry {
  std::optional<uint64_t> known_epoch;
};
struct RegistryRead {
  Status status;
  uint64_t epoch = 0;
  bool changed = false;  // the epoch moved: `models` holds the whole registry
  std::vector<RegistryModel> models;
  size_t round_trips = 1;
};

// Ingest: our own pending entries from a previous life first (until they are all read),
// then stale entries of any consumer when a claim is due, else new entries.
struct ReadIngest {
  size_t room = 0;
  int64_t claim_ms = 0;
  bool group_ready = false;
  bool own_pending_done = false;
  std::string own_cursor;
  bool claim = false;
};
// One entry, parsed: a parse failure still names what it could (its job fails at once).
struct IngestJob {
  std::string entry_id;
  schemas::SubmitRequest request;
  std::string batch;
  std::string item_id;
  Status parse_error;
};
struct IngestRead {
  ReadIngest asked;  // group_ready, own_pending_done and own_cursor as they are now
  Status status;
  std::vector<IngestJob> entries;
  size_t claimed = 0;     // entries claimed from a stale consumer
  uint64_t trimmed = 0;   // acknowledged entries deleted
  uint64_t round_trips = 0;
};

// Recovery: the live-job index, and the token logs of the jobs dispatched before.
struct LoadLive {
  size_t max_tokens = 0;
};
struct StoredLiveJob {
  schemas::JobRecord record;
  schemas::SubmitRequest request;
  std::string batch;
  std::string item_id;
};
struct LogPrefix {  // the start of a log with no hole: seqs 0..n-1
  std::vector<int32_t> tokens;
  std::string text;
  Status status;  // not ok: the read failed; tokens hold what came before it
};
struct LiveRead {
  Result<std::vector<StoredLiveJob>> jobs = internal_error("not read");
  std::vector<std::string> skipped;
  std::vector<JobId> logged;    // the jobs whose logs were read (attempt >= 1), in order
  std::vector<LogPrefix> logs;  // one per logged job
  size_t round_trips = 0;
};

using ReaderTask = std::variant<ReadRegistry, ReadIngest, LoadLive>;

}  // namespace rs::broker
