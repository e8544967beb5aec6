// BrokerState: the ingest stream and batch results (docs/BROKER.md "Ingest"). Entries are
// read with the consumer group "brokers" while the queue has room, each becomes a job
// through SUBMIT's validation and idempotency, and its XACK runs in the same script that
// stores the job. A job of a batch appends its final record to the batch's results stream
// in the pipeline of its terminal transition.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "rs/broker/broker_state.h"
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

// The validation error of an entry; ok when it may become a runnable job.
Status check_ids(const IngestJob& item) {
  if (!item.batch.empty() && !valid_id(item.batch)) {
    return wire_error(ErrorCode::kInvalidArgument, "batch id must be 1-128 of [A-Za-z0-9._:-]");
  }
  if (!item.item_id.empty() && !valid_id(item.item_id)) {
    return wire_error(ErrorCode::kInvalidArgument, "item id must be 1-128 of [A-Za-z0-9._:-]");
  }
  return {};
}

}  // namespace

int64_t BrokerState::next_ingest_wake_ns() const {
  if (options_.ingest_batch == 0) return std::numeric_limits<int64_t>::max();
  return next_ingest_ns_;
}

size_t BrokerState::ingest_room() const {
  const size_t queued = dispatcher_.queue().size() + batch_->pending_creates();
  const size_t room = options_.max_queued > queued ? options_.max_queued - queued : 0;
  return std::min(room, options_.ingest_batch);
}

void BrokerState::poll_ingest() {
  if (options_.ingest_batch == 0 || ingest_reading_) return;
  const int64_t now = clock_.now_ns();
  if (now < next_ingest_ns_) return;
  next_ingest_ns_ = now + std::max<int64_t>(options_.ingest_poll_ms, 1) * 1'000'000;
  if (!ingest_deferred_.empty()) {  // waiting for a model's workers or for queue room
    std::vector<IngestJob> again = std::move(ingest_deferred_);
    ingest_deferred_.clear();
    ingest_entries(std::move(again));
    if (!ingest_deferred_.empty()) return;
  }
  const size_t room = ingest_room();
  if (room == 0) return;
  start_ingest_read(room);
}

// The read runs on the StoreReader; its entries are staged when it is done (on_ingest_read).
void BrokerState::start_ingest_read(size_t room) {
  ReadIngest read{.room = room,
                  .claim_ms = options_.ingest_claim_ms,
                  .group_ready = ingest_group_ready_,
                  .own_pending_done = own_pending_done_,
                  .own_cursor = own_pending_cursor_};
  const int64_t now = clock_.now_ns();
  if (now >= next_claim_ns_) {
    const int64_t interval_ms = std::clamp<int64_t>(options_.ingest_claim_ms / 2, 50, 5000);
    next_claim_ns_ = now + interval_ms * 1'000'000;
    read.claim = true;
  }
  ingest_reading_ = true;
  ports_.read(std::move(read));
}

void BrokerState::on_ingest_read(IngestRead read) {
  ingest_reading_ = false;
  const int64_t now = clock_.now_ns();
  counters_.redis_round_trips.fetch_add(read.round_trips, std::memory_order_relaxed);
  counters_.ingest_trimmed.fetch_add(read.trimmed, std::memory_order_relaxed);
  ingest_group_ready_ = read.asked.group_ready;
  own_pending_done_ = read.asked.own_pending_done;
  own_pending_cursor_ = read.asked.own_cursor;
  if (!read.status.ok()) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    if (read.status.message().find("NOGROUP") != std::string::npos) ingest_group_ready_ = false;
    if (!ingest_failing_) {
      spdlog::warn("broker: ingest stream (retrying every {} ms): {}", kIngestRetryMs,
                   read.status.to_string());
    }
    ingest_failing_ = true;
    next_ingest_ns_ = now + kIngestRetryMs * 1'000'000;
    return;
  }
  if (ingest_failing_) spdlog::info("broker: ingest stream readable again");
  ingest_failing_ = false;
  if (read.claimed != 0) {
    counters_.ingest_claimed.fetch_add(read.claimed, std::memory_order_relaxed);
    spdlog::info("broker: claimed {} stale ingest entr{}", read.claimed,
                 read.claimed == 1 ? "y" : "ies");
    if (read.claimed >= read.asked.room) next_claim_ns_ = now;  // more may be stale
  }
  if (read.entries.size() >= read.asked.room) next_ingest_ns_ = now;  // more may wait: read again
  counters_.ingested.fetch_add(read.entries.size(), std::memory_order_relaxed);
  ingest_entries(std::move(read.entries));
}

void BrokerState::ingest_entries(std::vector<IngestJob> entries) {
  for (IngestJob& e : entries) {
    if (!ingest_entry(e)) ingest_deferred_.push_back(std::move(e));
  }
}

// Stages one entry's job creation (with its XACK); false: not now (kept for a later turn).
bool BrokerState::ingest_entry(IngestJob& item) {
  Status error = item.parse_error;
  if (error.ok()) {
    error = check_ids(item);
    if (error.ok()) error = schemas::validate(item.request, options_.limits);
    if (error.ok()) error = precheck_submit(item.request);
  }
  const ErrorCode code = error.ok() ? ErrorCode::kOk : schemas::wire_error_of(error);
  if (code == ErrorCode::kQueueFull) return false;
  if (code == ErrorCode::kUnknownModel && clock_.now_ns() < ingest_grace_end_ns_) return false;
  schemas::SubmitRequest& request = item.request;
  if (request.idempotency_key.empty()) {
    request.idempotency_key = !item.batch.empty() && !item.item_id.empty()
                                  ? "ingest:" + item.batch + ":" + item.item_id
                                  : "ingest:" + item.entry_id;
  }
  if (!request.sampling.seed) request.sampling.seed = new_seed();  // as on_submit
  schemas::JobRecord record = new_record(request);
  CreateJob write{.record = record, .request = request, .batch = item.batch,
                  .item_id = item.item_id, .ingest_entry = item.entry_id};
  batch_->add_write(AddLive{.job = record.job_id, .created_ms = record.created_ms});
  counters_.submitted.fetch_add(1, std::memory_order_relaxed);
  PendingCreate create{.job_id = record.job_id, .request = std::move(request), .record = std::move(record),
                       .ingest_entry = item.entry_id, .batch = std::move(item.batch),
                       .item_id = std::move(item.item_id), .fail_code = code,
                       .fail_error = error.ok() ? std::string() : schemas::wire_error_message(error)};
  const size_t index = batch_->add_create(std::move(create), std::move(write));
  if (batch_->creates()[index].dup_of >= 0) {  // same key earlier this turn: one job, ack both
    batch_->add_write(AckIngest{.entry = item.entry_id});
  }
  return true;
}

// After the commit: a new job is admitted (or fails at once if its entry was invalid); a
// duplicate needs nothing (its entry is acked); a failed create leaves the entry pending,
// to be claimed again.
void BrokerState::answer_ingest(PendingCreate& pc, const Result<CreateOutcome>& r, bool dup_in_turn) {
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
    batch_->add_write(RemoveLive{.job = pc.job_id});
    return;
  }
  if (pc.fail_code == ErrorCode::kOk) {
    metrics_->accepted(pc.request.model, pc.request.priority);
    admit({}, std::move(pc.request), std::move(pc.record), std::move(pc.batch), std::move(pc.item_id));
    return;
  }
  count_rejected(pc.fail_code);
  const JobId id = pc.job_id;
  if (jobs_.insert(id, LiveJob{.request = std::move(pc.request), .record = std::move(pc.record),
                               .accepted_ns = clock_.now_ns(), .batch = std::move(pc.batch),
                               .item_id = std::move(pc.item_id)}) == nullptr) {
    return;  // an id already live here: cannot be (a new id); that job stands
  }
  end_job(id, schemas::JobState::kFailed, pc.fail_code, pc.fail_error, nullptr);
}

// In end_job, before the job is forgotten: its hash's TTL (a dead-lettered job is kept for
// `jobs retry`) and its batch result, in the pipeline of its terminal transition.
void BrokerState::finish_batch_job(const JobId& id, const LiveJob& job) {
  if (options_.finished_ttl_s > 0 && job.record.error_code != ErrorCode::kMaxAttempts) {
    batch_->add_write(ExpireJob{.job = id, .ttl_s = options_.finished_ttl_s});
  }
  if (job.batch.empty()) return;
  batch_->add_write(AppendBatchResult{.batch = job.batch, .item_id = job.item_id,
                                      .text = job.text, .record = job.record});
  counters_.batch_results.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace rs::broker
