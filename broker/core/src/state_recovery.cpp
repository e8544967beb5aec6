// BrokerState: restart recovery. On its first turn the broker reads the live-job index
// (rs:live) back from Redis: QUEUED jobs are queued again, DISPATCHED / RUNNING ones wait
// --recovery-wait-ms for their worker's READY to list them (adopted: they carry on where
// they run) and are requeued after that (docs/BROKER.md "Restarts"). Every recovered job that
// was dispatched before gets its delivered tokens back from its token log, so its next
// attempt resumes after them.
#include <spdlog/spdlog.h>

#include "rs/broker/broker_state.h"
#include "rs/broker/router.h"
#include "rs/schemas/model_ref.h"
#include "turn_batch.h"

namespace rs::broker {
namespace {

constexpr int64_t kRecoveryRetryNs = 1'000'000'000;

bool was_dispatched(const schemas::JobRecord& r) {
  return (r.state == schemas::JobState::kDispatched || r.state == schemas::JobState::kRunning) &&
         r.device >= 0 && !r.worker.empty() && r.attempt >= 1;
}

}  // namespace

// Once, on the StoreReader (retried while Redis fails); workers' and clients' messages wait
// in their sockets meanwhile (run_once), so none is read before the live jobs are known.
void BrokerState::recover() {
  if (recovered_ || recovery_reading_ || clock_.now_ns() < next_recovery_ns_) return;
  if (replaying_journal()) return;  // the journal's writes first: rs:live must include them
  recovery_reading_ = true;
  ports_.read(LoadLive{.max_tokens = options_.limits.max_tokens});
}

void BrokerState::on_live_read(LiveRead read) {
  recovery_reading_ = false;
  counters_.redis_round_trips.fetch_add(read.round_trips, std::memory_order_relaxed);
  if (!read.jobs.ok()) {
    if (!recovery_failing_) {
      spdlog::error("broker: cannot read the live jobs from redis (retrying): {}",
                    read.jobs.status().to_string());
    }
    recovery_failing_ = true;
    next_recovery_ns_ = clock_.now_ns() + kRecoveryRetryNs;
    return;
  }
  recovered_ = true;
  for (const std::string& s : read.skipped) spdlog::error("broker: live job not recovered: {}", s);
  recover_jobs(std::move(read.jobs).value());
  restore_tokens(read.logged, read.logs, read.round_trips);
  start_recovered();
}

void BrokerState::recover_jobs(std::vector<StoredLiveJob> jobs) {
  if (jobs.empty()) return;
  std::vector<RecoveredJob> recovered;
  recovered.reserve(jobs.size());
  size_t n_dispatched = 0;
  for (StoredLiveJob& s : jobs) {
    const JobId id = s.record.job_id;
    if (is_live(id)) continue;
    schemas::SubmitRequest& request = s.request;
    RecoveredJob r{.spec = JobSubmit{.id = id, .model = request.model,
                                     .priority = request.priority,
                                     .route_key = routing_key(RouteRequest{
                                         request.model, request.affinity_key,
                                         request.session_id, route_prompt(request)}),
                                     .session_id = request.session_id}};
    if (was_dispatched(s.record)) {
      r.attempt = s.record.attempt;
      r.device = DeviceKey{s.record.worker, static_cast<uint32_t>(s.record.device)};
      r.dispatched_key = s.record.model_version == 0
                             ? s.record.model
                             : schemas::model_key(s.record.model, s.record.model_version);
      ++n_dispatched;
    } else {
      // Never dispatched: attempt 0 in Redis; requeued: the attempt that was lost.
      r.attempt = s.record.attempt + 1;
      s.record.state = schemas::JobState::kQueued;
    }
    const bool running = s.record.state == schemas::JobState::kRunning;
    jobs_.insert(id, LiveJob{.request = std::move(request), .record = std::move(s.record),
                             .accepted_ns = clock_.now_ns(), .running_written = running,
                             .batch = std::move(s.batch), .item_id = std::move(s.item_id)});
    recovered.push_back(std::move(r));
  }
  counters_.recovered.fetch_add(recovered.size(), std::memory_order_relaxed);
  spdlog::info("broker: recovered {} live job(s) from redis: {} queued, {} awaiting their "
               "worker for {} ms", recovered.size(), recovered.size() - n_dispatched,
               n_dispatched, options_.recovery_wait_ms);
  recovered_jobs_ = std::move(recovered);
}

// The recovered jobs to the Dispatcher, once their tokens are restored.
void BrokerState::start_recovered() {
  if (recovered_jobs_.empty()) return;
  const int64_t deadline = clock_.now_ns() + options_.recovery_wait_ms * 1'000'000;
  execute(dispatcher_.on_recovered(std::move(recovered_jobs_), deadline));
  recovered_jobs_.clear();
}

// The tokens each job's log holds (seqs 0..n-1, up to a hole): its seqs go on from n, its
// next DISPATCH carries them as resume_tokens, a batch job's text starts as theirs. Read in
// pipelines on the StoreReader (each bounded by read_timeout_ms); a job whose log could not
// be read keeps what was read before the failure (nothing: it starts from token 0).
void BrokerState::restore_tokens(const std::vector<JobId>& ids, std::vector<LogPrefix>& logs,
                                size_t round_trips) {
  if (ids.empty() || logs.size() != ids.size()) return;
  size_t n_resumed = 0, n_tokens = 0, n_failed = 0;
  Status failure;
  for (size_t i = 0; i < ids.size(); ++i) {
    LogPrefix& log = logs[i];
    if (!log.status.ok()) {
      if (n_failed++ == 0) failure = log.status;
    }
    LiveJob* live = live_job(ids[i]);
    if (live == nullptr || log.tokens.empty()) continue;
    LiveJob& job = *live;
    job.next_seq = log.tokens.size();
    job.tokens = std::move(log.tokens);
    if (!job.batch.empty()) job.text = std::move(log.text);
    ++n_resumed;
    n_tokens += job.next_seq;
  }
  counters_.resumed_from_log.fetch_add(n_resumed, std::memory_order_relaxed);
  if (n_failed != 0) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("broker: the token logs of {} recovered job(s) could not be read whole ({}): "
                 "they resume after what was read (from token 0 if nothing)",
                 n_failed, failure.to_string());
  }
  spdlog::info("broker: {} of {} recovered job(s) resume after their logged tokens ({} tokens, "
               "{} round trip(s))", n_resumed, ids.size(), n_tokens, round_trips);
}

// A job its worker still held at READY carries on there: the worker resends its tokens
// from seq 0; those the log already held (next_seq) are dropped as seen, the rest go on.
void BrokerState::on_adopted(const Action& a) {
  LiveJob* live = live_job(a.job);
  if (live == nullptr) return;
  LiveJob& job = *live;
  job.record.worker = a.device.worker;
  job.record.device = static_cast<int32_t>(a.device.index);
  job.record.attempt = a.attempt;
  counters_.adopted.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("broker: job {} attempt {} adopted on {}", a.job, a.attempt, a.device.to_string());
  batch_->add_job_change(a.job, JobChange{.adopted_ms = now_unix_ms()});
}

}  // namespace rs::broker
