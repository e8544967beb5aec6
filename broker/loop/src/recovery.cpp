// BrokerLoop: restart recovery. On its first turn the broker reads the live-job index
// (rs:live) back from Redis: QUEUED jobs are queued again, DISPATCHED / RUNNING ones wait
// --recovery-wait-ms for their worker's READY to list them (adopted: they carry on where
// they run) and are requeued after that (docs/BROKER.md "Restarts").
#include <spdlog/spdlog.h>

#include "rs/broker/loop/broker_loop.h"
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

void BrokerLoop::recover() {
  if (recovered_ || clock_.now_ns() < next_recovery_ns_) return;
  std::vector<std::string> skipped;
  counters_.redis_round_trips.fetch_add(1, std::memory_order_relaxed);
  auto jobs = jobs_store_->load_live(&skipped);
  if (!jobs.ok()) {
    if (!recovery_failing_) {
      spdlog::error("broker: cannot read the live jobs from redis (retrying): {}",
                    jobs.status().to_string());
    }
    recovery_failing_ = true;
    next_recovery_ns_ = clock_.now_ns() + kRecoveryRetryNs;
    pause_reads(jobs.status());
    return;
  }
  recovered_ = true;
  for (const std::string& s : skipped) spdlog::error("broker: live job not recovered: {}", s);
  recover_jobs(std::move(jobs).value());
}

void BrokerLoop::recover_jobs(std::vector<store::StoredJob> jobs) {
  if (jobs.empty()) return;
  std::vector<RecoveredJob> recovered;
  recovered.reserve(jobs.size());
  size_t n_dispatched = 0;
  for (store::StoredJob& s : jobs) {
    const JobId id = s.record.job_id;
    if (live_.count(id) != 0) continue;
    schemas::SubmitRequest& request = s.request;
    RecoveredJob r{.spec = JobSubmit{.id = id, .model = request.model,
                                     .priority = static_cast<Priority>(request.priority),
                                     .route_key = routing_key(RouteRequest{
                                         request.model, request.affinity_key,
                                         request.session_id, request.prompt}),
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
    live_.emplace(id, LiveJob{.request = std::move(request), .record = std::move(s.record),
                              .accepted_ns = clock_.now_ns(), .running_written = running,
                              .batch = std::move(s.batch), .item_id = std::move(s.item_id)});
    recovered.push_back(std::move(r));
  }
  counters_.recovered.fetch_add(recovered.size(), std::memory_order_relaxed);
  spdlog::info("broker: recovered {} live job(s) from redis: {} queued, {} awaiting their "
               "worker for {} ms", recovered.size(), recovered.size() - n_dispatched,
               n_dispatched, options_.recovery_wait_ms);
  const int64_t deadline = clock_.now_ns() + options_.recovery_wait_ms * 1'000'000;
  execute(dispatcher_.on_recovered(std::move(recovered), deadline));
}

// A job its worker still held at READY carries on there: its tokens so far come again
// from seq 0 (the worker resends them), so a batch job's text is whole again.
void BrokerLoop::on_adopted(const Action& a) {
  auto it = live_.find(a.job);
  if (it == live_.end()) return;
  LiveJob& job = it->second;
  job.record.worker = a.device.worker;
  job.record.device = static_cast<int32_t>(a.device.index);
  job.record.attempt = a.attempt;
  counters_.adopted.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("broker: job {} attempt {} adopted on {}", a.job, a.attempt, a.device.to_string());
  batch_->add_hset({"HSET", jobs_store_->options().keys.job(a.job), "adopted_ms",
                    std::to_string(now_unix_ms())});
}

}  // namespace rs::broker
