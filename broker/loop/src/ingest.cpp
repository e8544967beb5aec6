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
#include "store_reader.h"
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

// One ingest read: what the loop knew when it started (in), what the read did (out).
struct IngestRead {
  size_t room = 0;
  int64_t claim_ms = 0;
  bool group_ready = false;  // in and out
  bool own_pending_done = false;
  std::string own_cursor;    // our own pending entries read up to here
  bool claim = false;        // a claim of stale entries is due
  Status status;
  std::vector<store::IngestEntry> entries;
  size_t claimed = 0;        // entries claimed from a stale consumer
  uint64_t trimmed = 0;      // acknowledged entries deleted
  uint64_t round_trips = 0;
};

namespace {

// On the StoreReader's thread: our own unacked entries from a previous life first (until
// they are all read), then stale entries of any consumer when a claim is due (with a trim
// of the acknowledged ones), else new entries.
void run_ingest_read(store::IngestStream& stream, IngestRead& r) {
  auto take = [&](Result<std::vector<store::IngestEntry>> got) {
    ++r.round_trips;
    if (!got.ok()) {
      r.status = got.status();
      return false;
    }
    r.entries = std::move(got).value();
    return true;
  };
  if (!r.group_ready) {
    r.status = stream.ensure_group();
    if (!r.status.ok()) return;
    r.group_ready = true;
  }
  if (!r.own_pending_done) {
    if (!take(stream.read_own_pending(r.own_cursor, r.room))) return;
    if (r.entries.size() < r.room) r.own_pending_done = true;
    if (!r.entries.empty()) {
      r.own_cursor = r.entries.back().entry_id;
      return;
    }
  }
  if (r.claim) {
    if (!take(stream.claim_stale(r.claim_ms, r.room))) return;
    auto trimmed = stream.trim_acknowledged();  // best effort (retention)
    ++r.round_trips;
    if (trimmed.ok()) r.trimmed = *trimmed;
    r.claimed = r.entries.size();
    if (!r.entries.empty()) return;
  }
  take(stream.read(r.room));
}

}  // namespace

void BrokerLoop::init_ingest() {
  store::IngestOptions io;
  io.keys.prefix = options_.key_prefix;
  io.consumer = options_.broker_id;
  // Reads run on the StoreReader (its own connection); this one only builds XACKs.
  ingest_options_ = io;
  ingest_ = std::make_unique<store::IngestStream>(*redis_, io);
  batch_results_ = std::make_unique<store::BatchResults>(*redis_, io.keys);
  const int64_t now = clock_.now_ns();
  next_ingest_ns_ = now;
  next_claim_ns_ = now;
  // Workers re-register within a few heartbeats of a (re)start: until then an entry for a
  // model nobody knows waits instead of failing unknown_model.
  ingest_grace_end_ns_ = now + options_.heartbeat_ms * std::max(options_.missed_beats, 1) * 1'000'000;
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
  if (options_.ingest_batch == 0 || ingest_reading_) return;
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
  start_ingest_read(room);
}

// The read runs on the StoreReader; its entries are staged when it is done.
void BrokerLoop::start_ingest_read(size_t room) {
  auto read = std::make_shared<IngestRead>(IngestRead{.room = room,
                                                      .claim_ms = options_.ingest_claim_ms,
                                                      .group_ready = ingest_group_ready_,
                                                      .own_pending_done = own_pending_done_,
                                                      .own_cursor = own_pending_cursor_});
  const int64_t now = clock_.now_ns();
  if (now >= next_claim_ns_) {
    const int64_t interval_ms = std::clamp<int64_t>(options_.ingest_claim_ms / 2, 50, 5000);
    next_claim_ns_ = now + interval_ms * 1'000'000;
    read->claim = true;
  }
  ingest_reading_ = true;
  reader_->submit(
      [read, options = ingest_options_](store::RedisConnection& conn) {
        store::IngestStream stream(conn, options);
        run_ingest_read(stream, *read);
      },
      [this, read] {
        ingest_reading_ = false;
        on_ingest_read(*read);
      });
}

void BrokerLoop::on_ingest_read(IngestRead& read) {
  const int64_t now = clock_.now_ns();
  counters_.redis_round_trips.fetch_add(read.round_trips, std::memory_order_relaxed);
  counters_.ingest_trimmed.fetch_add(read.trimmed, std::memory_order_relaxed);
  ingest_group_ready_ = read.group_ready;
  own_pending_done_ = read.own_pending_done;
  own_pending_cursor_ = read.own_cursor;
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
    if (read.claimed >= read.room) next_claim_ns_ = now;  // more may be stale
  }
  if (read.entries.size() >= read.room) next_ingest_ns_ = now;  // more may wait: read again
  counters_.ingested.fetch_add(read.entries.size(), std::memory_order_relaxed);
  ingest_entries(std::move(read.entries));
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
  if (jobs_.insert(id, LiveJob{.request = std::move(pc.request), .record = std::move(pc.record),
                               .accepted_ns = clock_.now_ns(), .batch = std::move(pc.batch),
                               .item_id = std::move(pc.item_id)}) == nullptr) {
    return;  // an id already live here: cannot be (a new id); that job stands
  }
  end_job(id, schemas::JobState::kFailed, pc.fail_code, pc.fail_error, nullptr);
}

// In end_job, before the job is forgotten: its hash's TTL (a dead-lettered job is kept for
// `jobs retry`) and its batch result, in the pipeline of its terminal transition.
void BrokerLoop::finish_batch_job(const JobId& id, const LiveJob& job) {
  if (options_.finished_ttl_s > 0 && job.record.error_code != ErrorCode::kMaxAttempts) {
    batch_->add_write(jobs_store_->expire_command(id, options_.finished_ttl_s), WriteKind::kOther);
  }
  if (job.batch.empty()) return;
  store::BatchResult result{.batch = job.batch, .item_id = job.item_id, .text = job.text, .record = job.record};
  batch_->add_write(batch_results_->append_command(result), WriteKind::kOther);
  counters_.batch_results.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace rs::broker
