// BrokerLoop: the ingest stream and batch results (docs/BROKER.md "Ingest"). Entries are
// read with the consumer group "brokers" while the queue has room, each becomes a job
// through SUBMIT's validation and idempotency, and its XACK runs in the same script that
// stores the job. A job of a batch appends its final record to the batch's results stream
// in the pipeline of its terminal transition.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "rs/broker/loop/broker_loop.h"
#include "rs/schemas/codec.h"
#include "rs/schemas/errors.h"
#include "turn_batch.h"

namespace rs::broker {

using schemas::ErrorCode;
using schemas::wire_error;

namespace {

constexpr size_t kMaxIdBytes = 128;
constexpr int64_t kIngestRetryMs = 1000;  // ingest reads while Redis fails

// Batch and item ids: 1-128 of [A-Za-z0-9._:-] (docs/REDIS.md).
bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

// What an entry that does not parse still says about itself (for its FAILED job).
store::IngestItem partial_item(const store::IngestEntry& e) {
  store::IngestItem item;
  item.entry_id = e.entry_id;
  for (const auto& [f, v] : e.fields) {
    if (f == "batch") item.batch = v;
    else if (f == "id") item.item_id = v;
    else if (f == "model") item.request.model = v;
    else if (f == "prompt") item.request.prompt = v;
    else if (f == "idempotency_key") item.request.idempotency_key = v;
  }
  return item;
}

// The validation error of an entry; ok when it may become a runnable job.
Status check_ids(const store::IngestItem& item) {
  if (!item.batch.empty() && !valid_id(item.batch)) {
    return wire_error(ErrorCode::kInvalidArgument, "batch id must be 1-128 of [A-Za-z0-9._:-]");
  }
  if (!item.item_id.empty() && !valid_id(item.item_id)) {
    return wire_error(ErrorCode::kInvalidArgument, "item id must be 1-128 of [A-Za-z0-9._:-]");
  }
  return {};
}

}  // namespace

void BrokerLoop::init_ingest() {
  store::IngestOptions io;
  io.keys.prefix = options_.key_prefix;
  io.consumer = options_.broker_id;
  // Reads go over their own connection: while Redis is down, their reconnect attempts
  // (throttled per connection) never hold back those of the commit path.
  ingest_redis_ = std::make_unique<store::RedisConnection>(options_.redis);
  ingest_ = std::make_unique<store::IngestStream>(*ingest_redis_, io);
  batch_results_ = std::make_unique<store::BatchResults>(*redis_, io.keys);
  const int64_t now = clock_.now_ns();
  next_ingest_ns_ = now;
  next_claim_ns_ = now;
  // Workers re-register within a few heartbeats of a (re)start: until then an entry for a
  // model nobody knows waits instead of failing unknown_model.
  ingest_grace_end_ns_ = now + options_.heartbeat_ms * std::max(options_.missed_beats, 1) * 1'000'000;
}

// Entries every broker acknowledged are deleted (retention: the stream does not grow
// forever); best effort, on the claim cadence.
void BrokerLoop::trim_ingest() {
  counters_.redis_round_trips.fetch_add(1, std::memory_order_relaxed);
  auto trimmed = ingest_->trim_acknowledged();
  if (trimmed.ok()) {
    counters_.ingest_trimmed.fetch_add(*trimmed, std::memory_order_relaxed);
  } else {
    spdlog::debug("broker: ingest trim: {}", trimmed.status().to_string());
  }
}

int64_t BrokerLoop::next_ingest_wake_ns() const {
  if (options_.ingest_batch == 0) return std::numeric_limits<int64_t>::max();
  return next_ingest_ns_;
}

size_t BrokerLoop::ingest_room() const {
  const size_t queued = dispatcher_.queue().size() + batch_->pending_creates();
  const size_t room = options_.max_queued > queued ? options_.max_queued - queued : 0;
  return std::min(room, options_.ingest_batch);
}

void BrokerLoop::poll_ingest() {
  if (options_.ingest_batch == 0) return;
  const int64_t now = clock_.now_ns();
  if (now < next_ingest_ns_) return;
  next_ingest_ns_ = now + std::max<int64_t>(options_.ingest_poll_ms, 1) * 1'000'000;
  if (!ingest_deferred_.empty()) {  // waiting for a model's workers or for queue room
    std::vector<store::IngestEntry> again = std::move(ingest_deferred_);
    ingest_deferred_.clear();
    ingest_entries(std::move(again));
    if (!ingest_deferred_.empty()) return;
  }
  const size_t room = ingest_room();
  if (room == 0) return;
  auto entries = read_ingest(room);
  if (!entries.ok()) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    if (entries.status().message().find("NOGROUP") != std::string::npos) ingest_group_ready_ = false;
    if (!ingest_failing_) {
      spdlog::warn("broker: ingest stream (retrying every {} ms): {}", kIngestRetryMs,
                   entries.status().to_string());
    }
    ingest_failing_ = true;
    next_ingest_ns_ = now + kIngestRetryMs * 1'000'000;
    pause_reads(entries.status());
    return;
  }
  if (ingest_failing_) spdlog::info("broker: ingest stream readable again");
  ingest_failing_ = false;
  if (entries->size() >= room) next_ingest_ns_ = now;  // more may wait: read again next turn
  counters_.ingested.fetch_add(entries->size(), std::memory_order_relaxed);
  ingest_entries(std::move(*entries));
}

// Our own unacked entries from a previous life first (once), then stale entries of any
// consumer when a claim is due, else new entries.
Result<std::vector<store::IngestEntry>> BrokerLoop::read_ingest(size_t room) {
  if (!ingest_group_ready_) {
    RS_RETURN_IF_ERROR(ingest_->ensure_group());
    ingest_group_ready_ = true;
  }
  std::vector<store::IngestEntry> out;
  if (!own_pending_done_) {
    counters_.redis_round_trips.fetch_add(1, std::memory_order_relaxed);
    RS_ASSIGN_OR_RETURN(out, ingest_->read_own_pending(own_pending_cursor_, room));
    if (out.size() < room) own_pending_done_ = true;
    if (!out.empty()) {
      own_pending_cursor_ = out.back().entry_id;
      return out;
    }
  }
  const int64_t now = clock_.now_ns();
  if (now >= next_claim_ns_) {
    const int64_t interval_ms = std::clamp<int64_t>(options_.ingest_claim_ms / 2, 50, 5000);
    next_claim_ns_ = now + interval_ms * 1'000'000;
    counters_.redis_round_trips.fetch_add(1, std::memory_order_relaxed);
    RS_ASSIGN_OR_RETURN(out, ingest_->claim_stale(options_.ingest_claim_ms, room));
    trim_ingest();
    if (!out.empty()) {
      counters_.ingest_claimed.fetch_add(out.size(), std::memory_order_relaxed);
      spdlog::info("broker: claimed {} stale ingest entr{}", out.size(), out.size() == 1 ? "y" : "ies");
      if (out.size() >= room) next_claim_ns_ = now;  // more may be stale
      return out;
    }
  }
  counters_.redis_round_trips.fetch_add(1, std::memory_order_relaxed);
  return ingest_->read(room);
}

void BrokerLoop::ingest_entries(std::vector<store::IngestEntry> entries) {
  for (store::IngestEntry& e : entries) {
    if (!ingest_entry(e)) ingest_deferred_.push_back(std::move(e));
  }
}

// Stages one entry's job creation (with its XACK); false: not now (kept for a later turn).
bool BrokerLoop::ingest_entry(store::IngestEntry& e) {
  auto parsed = store::ingest_from_fields(e.entry_id, e.fields);
  store::IngestItem item;
  Status error;
  if (parsed.ok()) {
    item = std::move(parsed).value();
    error = check_ids(item);
    if (error.ok()) error = schemas::validate(item.request, options_.limits);
    if (error.ok()) error = precheck_submit(item.request);
  } else {
    item = partial_item(e);
    error = wire_error(ErrorCode::kInvalidArgument, parsed.status().message());
  }
  const ErrorCode code = error.ok() ? ErrorCode::kOk : schemas::wire_error_of(error);
  if (code == ErrorCode::kQueueFull) return false;
  if (code == ErrorCode::kUnknownModel && clock_.now_ns() < ingest_grace_end_ns_) return false;
  schemas::SubmitRequest& request = item.request;
  if (request.idempotency_key.empty()) {
    request.idempotency_key = !item.batch.empty() && !item.item_id.empty()
                                  ? "ingest:" + item.batch + ":" + item.item_id
                                  : "ingest:" + e.entry_id;
  }
  if (!request.sampling.seed) request.sampling.seed = new_seed();  // as on_submit
  schemas::JobRecord record = new_record(request);
  store::CreateExtras extras{.ack_stream = jobs_store_->options().keys.ingest(),
                             .ack_group = "brokers", .ack_entry = e.entry_id};
  if (!item.batch.empty()) extras.fields = {{"batch", item.batch}, {"item_id", item.item_id}};
  store::RedisCommand command = jobs_store_->create_command(record, request, extras);
  batch_->add_write(jobs_store_->live_add_command(record.job_id, record.created_ms), WriteKind::kOther);
  counters_.submitted.fetch_add(1, std::memory_order_relaxed);
  PendingCreate create{.job_id = record.job_id, .request = std::move(request), .record = std::move(record),
                       .ingest_entry = e.entry_id, .batch = std::move(item.batch),
                       .item_id = std::move(item.item_id), .fail_code = code,
                       .fail_error = error.ok() ? std::string() : schemas::wire_error_message(error)};
  const size_t index = batch_->add_create(std::move(create), std::move(command));
  if (batch_->creates()[index].dup_of >= 0) {  // same key earlier this turn: one job, ack both
    batch_->add_write(ingest_->ack_command(e.entry_id), WriteKind::kOther);
  }
  return true;
}

// After the commit: a new job is admitted (or fails at once if its entry was invalid); a
// duplicate needs nothing (its entry is acked); a failed create leaves the entry pending,
// to be claimed again.
void BrokerLoop::answer_ingest(PendingCreate& pc, const Result<store::CreateResult>& r, bool dup_in_turn) {
  if (!r.ok()) {
    if (!dup_in_turn) {
      counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("broker: ingest entry {} not stored (read again): {}", pc.ingest_entry,
                   r.status().to_string());
    }
    own_pending_cursor_ = std::string(1, '0');  // our unacked entries are read again, without the claim wait
    own_pending_done_ = false;
    return;
  }
  if (dup_in_turn || !r->created) {  // the new id never became a job
    batch_->add_write(jobs_store_->live_remove_command(pc.job_id), WriteKind::kOther);
    return;
  }
  if (pc.fail_code == ErrorCode::kOk) {
    admit({}, std::move(pc.request), std::move(pc.record), std::move(pc.batch), std::move(pc.item_id));
    return;
  }
  counters_.rejected.fetch_add(1, std::memory_order_relaxed);
  count_error(pc.fail_code);
  const JobId id = pc.job_id;
  live_.emplace(id, LiveJob{.request = std::move(pc.request), .record = std::move(pc.record),
                            .accepted_ns = clock_.now_ns(), .batch = std::move(pc.batch),
                            .item_id = std::move(pc.item_id)});
  end_job(id, schemas::JobState::kFailed, pc.fail_code, pc.fail_error, nullptr);
}

// In end_job, before the job is forgotten: its hash's TTL (a dead-lettered job is kept for
// `jobs retry`) and its batch result, in the pipeline of its terminal transition.
void BrokerLoop::finish_batch_job(const JobId& id, const LiveJob& job) {
  if (options_.finished_ttl_s > 0 && job.record.error_code != ErrorCode::kMaxAttempts) {
    batch_->add_write({"EXPIRE", jobs_store_->options().keys.job(id), std::to_string(options_.finished_ttl_s)},
                      WriteKind::kOther);
  }
  if (job.batch.empty()) return;
  store::BatchResult result{.batch = job.batch, .item_id = job.item_id, .text = job.text, .record = job.record};
  batch_->add_write(batch_results_->append_command(result), WriteKind::kOther);
  counters_.batch_results.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace rs::broker
