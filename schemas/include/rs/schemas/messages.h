// Every wire message as a plain struct (one per command), plus the enums they share.
// Plain values: copy, move and read from any thread. Field names here are the msgpack
// map keys on the wire (docs/PROTOCOL.md). 0 / "" mean "not set" for optional fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rs/core/priority.h"
#include "rs/schemas/errors.h"
#include "rs/schemas/protocol.h"

namespace rs::schemas {

using Priority = ::rs::Priority;  // defined once, in rs_core (rs/core/priority.h)
enum class JobState : uint8_t { kQueued = 0, kDispatched, kRunning, kSucceeded, kFailed, kCancelled };

std::string_view priority_name(Priority p);            // "interactive" | "batch"
std::optional<Priority> parse_priority(std::string_view name);
std::string_view job_state_name(JobState s);           // "QUEUED" ... "CANCELLED"
std::optional<JobState> parse_job_state(std::string_view name);
bool is_terminal(JobState s);                          // SUCCEEDED | FAILED | CANCELLED

struct Sampling {
  float temperature = 1.0f;        // 0 = greedy
  int32_t top_k = 0;               // 0 = off
  float top_p = 1.0f;              // 1 = off
  float min_p = 0.0f;              // 0 = off
  float repetition_penalty = 1.0f; // 1 = off
  // Absent: the broker chooses one when it accepts the job and stores it with the request,
  // so every attempt (and a resume from the log) samples the same random stream.
  std::optional<uint64_t> seed;
  bool operator==(const Sampling&) const = default;
};

struct Usage {
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  double queue_ms = 0;    // SUBMIT accepted -> first DISPATCH of the final attempt
  double ttft_ms = 0;     // SUBMIT accepted -> first token
  double decode_tps = 0;  // completion tokens per second after the first token
  bool operator==(const Usage&) const = default;
};

// ---- client -> broker --------------------------------------------------------------
// request_id: chosen by the client, echoed in the reply (correlation over one socket).
struct SubmitRequest {
  static constexpr Command kCommand = Command::kSubmit;
  uint64_t request_id = 0;
  std::string model;                 // required
  std::string prompt;                // required; <= Limits::max_prompt_bytes
  // A prompt given as token ids (then prompt is "" and the job is no chat): the engine takes
  // them as they are (no BOS added), each in [0, the model's vocabulary); at most
  // Limits::max_prompt_tokens. What evaluation harnesses send (OpenAI `prompt: [ids]`).
  std::vector<int32_t> prompt_ids;
  Sampling sampling;
  uint32_t max_tokens = 128;         // 1..Limits::max_tokens
  std::vector<std::string> stop;     // <= max_stop_strings, each <= max_stop_bytes
  Priority priority = Priority::kInteractive;
  std::string affinity_key;
  std::string session_id;
  std::string idempotency_key;
  bool stream = true;                // false: only ACCEPTED and DONE, no TOKENS
  std::string api_meta;              // opaque to the broker (the gateway's response format)
  bool detach = false;               // the broker must not cancel it when the submitter goes
  std::string tenant;                // who the job is for (accounting); "" = none
  bool ignore_eos = false;           // generate past end-of-generation tokens (max_tokens ends it)
  // A chat job: the worker renders these with the model's chat template (then prompt is "").
  // JSON texts, opaque to the broker; together with prompt <= Limits::max_prompt_bytes.
  std::string chat_messages;         // a JSON array of messages; "" = a plain completion
  std::string chat_tools;            // a JSON array of tools ("" = none)
  std::string chat_kwargs;           // a JSON object of extra template variables ("" = none)
  bool add_generation_prompt = true;
  // Celery's `expires`: a job still queued this many ms after it was accepted ends FAILED
  // `expired` and never runs. 0 = never.
  uint64_t expires_ms = 0;
  // Logprobs beyond the chosen token's (which every TokenEntry carries): top_logprobs
  // alternatives on every completion token (0..Limits::max_top_logprobs), and with
  // prompt_logprobs the prompt's tokens and logprobs (each with prompt_top_logprobs
  // alternatives) on the job's first token entry (seq 0).
  uint32_t top_logprobs = 0;
  bool prompt_logprobs = false;
  uint32_t prompt_top_logprobs = 0;
  bool is_chat() const { return !chat_messages.empty(); }
  bool operator==(const SubmitRequest&) const = default;
};
struct CancelRequest {
  static constexpr Command kCommand = Command::kCancel;
  uint64_t request_id = 0;
  std::string job_id;
  bool operator==(const CancelRequest&) const = default;
};
struct SubscribeRequest {
  static constexpr Command kCommand = Command::kSubscribe;
  uint64_t request_id = 0;
  std::string job_id;
  uint64_t from_seq = 0;  // first sequence number wanted (last seen + 1)
  bool operator==(const SubscribeRequest&) const = default;
};
struct StatusRequest {
  static constexpr Command kCommand = Command::kStatus;
  uint64_t request_id = 0;
  std::string job_id;
  bool operator==(const StatusRequest&) const = default;
};
struct WorkersRequest {
  static constexpr Command kCommand = Command::kWorkers;
  uint64_t request_id = 0;
  bool operator==(const WorkersRequest&) const = default;
};
struct Ping {
  static constexpr Command kCommand = Command::kPing;
  uint64_t request_id = 0;
  bool operator==(const Ping&) const = default;
};

// ---- shared records ----------------------------------------------------------------
// One alternative at a position: a token, its bytes (the vocabulary piece; may be a
// partial UTF-8 sequence) and ln p under the raw logits.
struct TokenAlt {
  int32_t token = 0;
  std::string text;
  float logprob = 0;
  bool operator==(const TokenAlt&) const = default;
};
// One prompt position. Position 0 has no logprob (0 here, null in the HTTP API) and no
// alternatives.
struct PromptToken {
  int32_t token = 0;
  std::string text;      // the vocabulary piece
  float logprob = 0;     // ln p(token | the tokens before it)
  std::vector<TokenAlt> top;  // SubmitRequest::prompt_top_logprobs, logprob desc
  bool operator==(const PromptToken&) const = default;
};
struct TokenEntry {
  std::string job_id;
  uint32_t attempt = 0;
  uint64_t seq = 0;      // per job, from 0, no gaps
  int32_t token = 0;     // token id
  std::string text;      // decoded piece (may be a partial UTF-8 sequence)
  float logprob = 0;     // ln p(token) under the raw logits (before sampling transforms)
  // Absent on the wire when empty (entries from before they existed read as empty):
  std::vector<TokenAlt> top;      // SubmitRequest::top_logprobs alternatives, logprob desc
  std::vector<PromptToken> prompt;  // seq 0 of a prompt_logprobs job: every prompt position
  bool operator==(const TokenEntry&) const = default;
};
// The Redis token log's record of a group's alternatives and prompt logprobs (field
// `logprob_extras` of a stream entry, docs/REDIS.md): one item per entry that has any.
struct TokenExtras {
  uint64_t seq = 0;
  std::vector<TokenAlt> top;
  std::vector<PromptToken> prompt;
  bool operator==(const TokenExtras&) const = default;
};
struct TokenExtrasList {
  std::vector<TokenExtras> entries;
  bool operator==(const TokenExtrasList&) const = default;
};

// The job as stored in Redis and sent in DONE / STATUS_REPLY. Timestamps: Unix ms, 0 = not yet.
struct JobRecord {
  std::string job_id;
  JobState state = JobState::kQueued;
  std::string model;      // the model name (without "@version")
  uint32_t model_version = 0;  // the registry version that served it; 0 = not yet / unversioned
  Priority priority = Priority::kInteractive;
  std::string worker;    // "" until dispatched
  int32_t device = -1;   // -1 until dispatched
  uint32_t attempt = 0;  // 0 before the first dispatch, then 1, 2, ...
  Usage usage;
  ErrorCode error_code = ErrorCode::kOk;
  std::string error;     // human-readable reason when FAILED / CANCELLED
  uint64_t created_ms = 0;
  uint64_t dispatched_ms = 0;
  uint64_t started_ms = 0;
  uint64_t finished_ms = 0;
  std::string api_meta;  // from SUBMIT, opaque
  std::string tenant;    // from SUBMIT
  bool detach = false;   // from SUBMIT
  // "stop" | "length" (SUCCEEDED), "cancelled" (CANCELLED), "error" (FAILED); "" until it ends.
  std::string finish_reason;
  bool operator==(const JobRecord&) const = default;
};

// ---- broker -> client --------------------------------------------------------------
struct Accepted {
  static constexpr Command kCommand = Command::kAccepted;
  uint64_t request_id = 0;
  std::string job_id;
  bool duplicate = false;  // true: idempotency key seen before, job_id is the first job's
  bool operator==(const Accepted&) const = default;
};
struct Rejected {
  static constexpr Command kCommand = Command::kRejected;
  uint64_t request_id = 0;
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  bool operator==(const Rejected&) const = default;
};
struct TokenBatch {
  static constexpr Command kCommand = Command::kTokens;
  std::vector<TokenEntry> entries;  // may mix jobs; in seq order per job
  bool operator==(const TokenBatch&) const = default;
};
struct Done {  // the final record: exactly once per job, to the submitter and subscribers
  static constexpr Command kCommand = Command::kDone;
  JobRecord record;
  bool operator==(const Done&) const = default;
};
struct StatusReply {
  static constexpr Command kCommand = Command::kStatusReply;
  uint64_t request_id = 0;
  JobRecord record;
  bool operator==(const StatusReply&) const = default;
};
struct DeviceStatus {  // one device of one worker, as the broker sees it
  std::string worker;
  int32_t device = 0;
  std::vector<std::string> models;
  uint32_t free_slots = 0;
  uint32_t max_slots = 0;
  uint32_t running = 0;
  uint64_t last_heartbeat_ms = 0;  // Unix ms of the last WORKER_HEARTBEAT; 0 = none yet
  uint32_t kv_blocks_free = 0;     // from the last WORKER_HEARTBEAT
  uint32_t kv_blocks_total = 0;
  std::vector<std::string> no_chat;  // from the last WORKER_HEARTBEAT: "key: reason"
  bool operator==(const DeviceStatus&) const = default;
};
struct WorkersReply {
  static constexpr Command kCommand = Command::kWorkersReply;
  uint64_t request_id = 0;
  std::vector<DeviceStatus> devices;
  bool operator==(const WorkersReply&) const = default;
};
struct ErrorReply {  // answer to a malformed or failed request; request_id 0 if unknown
  static constexpr Command kCommand = Command::kError;
  uint64_t request_id = 0;
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string job_id;
  // `lagged` only: the first seq of the job not sent to this client (its last seq + 1;
  // every seq below went out to it): SUBSCRIBE again from here. Absent on other errors.
  std::optional<uint64_t> next_seq;
  bool operator==(const ErrorReply&) const = default;
};
struct Pong {
  static constexpr Command kCommand = Command::kPong;
  uint64_t request_id = 0;
  uint64_t broker_time_ms = 0;
  bool operator==(const Pong&) const = default;
};

// ---- worker -> broker --------------------------------------------------------------
struct DeviceInfo {
  int32_t index = 0;
  std::vector<std::string> models;
  uint32_t free_slots = 0;
  uint32_t max_slots = 0;
  bool operator==(const DeviceInfo&) const = default;
};
// A job a worker still holds when it sends READY (running, or ended while it had no
// broker to tell): the broker adopts it if (job, attempt, device) is still current for it,
// else asks the worker to cancel it.
struct ReadyJob {
  std::string job_id;
  uint32_t attempt = 0;
  int32_t device = 0;
  uint64_t n_tokens = 0;  // the job's tokens so far, resumed ones included (this attempt's
                          // are sent again after READY)
  bool operator==(const ReadyJob&) const = default;
};
struct WorkerReady {
  static constexpr Command kCommand = Command::kReady;
  std::string worker_id;
  std::vector<DeviceInfo> devices;
  uint32_t heartbeat_interval_ms = 1000;
  std::vector<ReadyJob> jobs;  // jobs the worker holds (empty on a fresh start)
  bool operator==(const WorkerReady&) const = default;
};
struct DeviceLoad {
  int32_t index = 0;
  uint32_t free_slots = 0;
  uint32_t running = 0;
  uint32_t kv_blocks_free = 0;
  uint32_t kv_blocks_total = 0;
  // has_models: `models` is the device's full list of model keys ("name" or "name@version")
  // taking new jobs now, replacing the list of READY / the previous heartbeat.
  bool has_models = false;
  std::vector<std::string> models;
  // Models of `models` that cannot serve chat jobs: "key: reason" (no or a bad template).
  std::vector<std::string> no_chat;
  bool operator==(const DeviceLoad&) const = default;
};
struct WorkerHeartbeat {
  static constexpr Command kCommand = Command::kWorkerHeartbeat;
  std::string worker_id;
  std::vector<DeviceLoad> devices;
  bool operator==(const WorkerHeartbeat&) const = default;
};
struct WorkerTokens {  // one per engine step: every running sequence's new pieces
  static constexpr Command kCommand = Command::kWorkerTokens;
  std::vector<TokenEntry> entries;
  bool operator==(const WorkerTokens&) const = default;
};
struct WorkerDone {
  static constexpr Command kCommand = Command::kWorkerDone;
  std::string job_id;
  uint32_t attempt = 0;
  int32_t device = 0;
  Usage usage;
  std::string finish_reason;  // "stop" | "length" | "cancelled"
  bool operator==(const WorkerDone&) const = default;
};
struct WorkerFailed {
  static constexpr Command kCommand = Command::kWorkerFailed;
  std::string job_id;
  uint32_t attempt = 0;
  int32_t device = 0;
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  bool operator==(const WorkerFailed&) const = default;
};
struct WorkerDisconnect {
  static constexpr Command kCommand = Command::kWorkerDisconnect;
  std::string worker_id;
  std::string reason;
  bool operator==(const WorkerDisconnect&) const = default;
};

// ---- broker -> worker --------------------------------------------------------------
struct Dispatch {
  static constexpr Command kCommand = Command::kDispatch;
  std::string job_id;
  uint32_t attempt = 1;
  int32_t device = 0;
  SubmitRequest request;  // request_id, idempotency_key etc. are not used by the worker
  uint64_t created_ms = 0;  // the job's creation (Unix ms): a chat template's strftime_now
  // Resume from the log: the tokens already delivered (seqs 0..n-1). The worker prefills
  // prompt + these and generates on from seq n with the same random stream position.
  std::vector<int32_t> resume_tokens;
  bool operator==(const Dispatch&) const = default;
};
struct CancelJob {
  static constexpr Command kCommand = Command::kCancelJob;
  std::string job_id;
  uint32_t attempt = 0;
  int32_t device = 0;
  bool operator==(const CancelJob&) const = default;
};
struct BrokerHeartbeat {
  static constexpr Command kCommand = Command::kBrokerHeartbeat;
  uint64_t broker_time_ms = 0;
  bool operator==(const BrokerHeartbeat&) const = default;
};
struct BrokerDisconnect {
  static constexpr Command kCommand = Command::kBrokerDisconnect;
  std::string reason;
  bool operator==(const BrokerDisconnect&) const = default;
};

}  // namespace rs::schemas
