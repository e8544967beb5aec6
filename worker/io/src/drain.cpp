// WorkerLoop: the drain (SIGTERM / SIGINT, request_drain()). The worker stops taking jobs
// at once (a heartbeat listing no models; a DISPATCH still on its way gets WORKER_FAILED
// draining), lets its running jobs finish within grace_ms, then cancels the rest on their
// engines and hands each back to the broker (WORKER_FAILED draining, after every token it
// produced). Once every end was sent, run() stops: WORKER_DISCONNECT, exit.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "rs/worker/io/worker_loop.h"

namespace rs::worker::io {
namespace {

// After the grace, how long the engines have to confirm the cancels before the ends are
// sent without them (a stuck engine must not hold the exit forever).
int64_t hand_back_wait_ns(const WorkerOptions& o) {
  return std::max<int64_t>(o.heartbeat_ms, 1) * std::max(o.missed_beats, 1) * 1'000'000;
}

}  // namespace

// Once per loop turn, after the outbox was flushed (so ends produced this turn are sent).
void WorkerLoop::turn_drain() {
  const uint32_t requests = drain_requests_.load(std::memory_order_relaxed);
  if (requests == 0) return;
  const int64_t now = clock_.now_ns();
  if (drain_phase_ == DrainPhase::kNone) start_drain(now);
  if (requests >= 2 && drain_phase_ == DrainPhase::kGrace && drain_deadline_ns_ > now) {
    spdlog::warn("worker {}: asked again to stop: the grace period ends now", options_.worker_id);
    drain_deadline_ns_ = now;
  }
  if (drain_phase_ == DrainPhase::kGrace && now >= drain_deadline_ns_) hand_back_running(now);
  if (drain_phase_ == DrainPhase::kHandingBack && now >= hand_back_ns_) abandon_unconfirmed();
  if (drain_finished()) {
    spdlog::info("worker {}: drained; disconnecting", options_.worker_id);
    stop_.store(true, std::memory_order_relaxed);
  }
}

// No new jobs: the advertised list empties (model_keys() is empty from now on) and the
// broker hears it now, not at the next interval.
void WorkerLoop::start_drain(int64_t now_ns) {
  drain_phase_ = DrainPhase::kGrace;
  drain_deadline_ns_ = now_ns + std::max<int64_t>(options_.grace_ms, 0) * 1'000'000;
  draining_.store(true, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(keys_mu_);
    advertised_.clear();
  }
  size_t running = 0;
  for (const auto& [job_id, job] : in_flight_) running += job.final ? 0 : 1;
  spdlog::info("worker {}: draining: no new jobs, {} running, grace {} ms", options_.worker_id,
               running, options_.grace_ms);
  // Not registered yet: the heartbeat that follows the acknowledgement lists no models.
  if (connected_ && state_ == State::kRegistered && healthy()) send_heartbeat();
}

// The grace is over: every job still running is cancelled on its engine; its end (the
// engine's CANCELLED) goes to the broker as WORKER_FAILED draining (send_batch).
void WorkerLoop::hand_back_running(int64_t now_ns) {
  drain_phase_ = DrainPhase::kHandingBack;
  hand_back_ns_ = now_ns + hand_back_wait_ns(options_);
  size_t n = 0;
  for (auto& [job_id, job] : in_flight_) {
    if (job.final || job.handed_back) continue;
    job.handed_back = true;
    hosts_[static_cast<size_t>(job.device)]->cancel(job_id);
    ++n;
  }
  counters_.handed_back.fetch_add(n, std::memory_order_relaxed);
  if (n > 0) {
    spdlog::warn("worker {}: grace period over: handing {} running job(s) back", options_.worker_id,
                 n);
  }
}

// The engines did not confirm every cancel in time: those jobs are handed back anyway
// (tokens they produce from now on are dropped; the broker fences them as well).
void WorkerLoop::abandon_unconfirmed() {
  drain_phase_ = DrainPhase::kOver;
  std::vector<std::string> pending;
  for (const auto& [job_id, job] : in_flight_) {
    if (!job.final) pending.push_back(job_id);
  }
  for (const std::string& job_id : pending) {
    const InFlight& job = in_flight_.at(job_id);
    spdlog::warn("worker {}: job {}: its engine did not confirm the cancel", options_.worker_id,
                 job_id);
    send_final(job_id,
               hand_back_failure(job_id, job, job.device, "its engine did not confirm the cancel"));
  }
}

// Every job ended and its end reached the broker (or went out with a READY); or the last
// wait after the grace is over (a broker out of reach finds the rest by our silence).
bool WorkerLoop::drain_finished() const {
  if (drain_phase_ == DrainPhase::kOver) return true;
  return std::all_of(in_flight_.begin(), in_flight_.end(), [](const auto& entry) {
    return entry.second.final.has_value() && entry.second.final_sent_ns != 0;
  });
}

schemas::WorkerFailed WorkerLoop::hand_back_failure(const std::string& job_id, const InFlight& job,
                                                    int device, const char* why) const {
  return schemas::WorkerFailed{.job_id = job_id,
                               .attempt = job.attempt,
                               .device = device,
                               .code = schemas::ErrorCode::kDraining,
                               .message = "worker " + options_.worker_id + " is draining: " + why +
                                          " after " + std::to_string(job.tokens.size()) +
                                          " token(s)"};
}

}  // namespace rs::worker::io
