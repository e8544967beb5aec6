// BrokerState: messages from workers (READY, HEARTBEAT, TOKENS, DONE, FAILED, DISCONNECT).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <type_traits>

#include "rs/broker/broker_state.h"
#include "rs/schemas/errors.h"

namespace rs::broker {
namespace {

using schemas::ErrorCode;

// Retryable: the failure was the worker's or the device's, not the request's.
bool is_retryable(ErrorCode code) {
  return code == ErrorCode::kWorkerLost || code == ErrorCode::kUnavailable ||
         code == ErrorCode::kInternal || code == ErrorCode::kModelUnavailable ||
         code == ErrorCode::kDraining;
}

}  // namespace

std::string BrokerState::worker_of(const RoutingIds& peer) const {
  if (peer.empty()) return {};
  auto it = peer_workers_.find(peer.front());
  return it == peer_workers_.end() ? std::string() : it->second;
}

void BrokerState::on_worker_frames(const RoutingIds& peer, const schemas::Frames& frames) {
  auto parsed = schemas::parse_frames(frames, schemas::Direction::kWorkerToBroker, options_.limits);
  if (!parsed.ok()) {
    count_malformed(schemas::wire_error_of(parsed.status()));
    spdlog::warn("broker: bad worker message: {}", parsed.status().to_string());
    return;
  }
  if (auto* ready = std::get_if<schemas::WorkerReady>(&parsed.value())) {
    if (sender_ != nullptr && ready->worker_id != sender_->name) {
      // An impostor: its key was issued to another worker. Nothing moves.
      metrics_->auth_refused(kWorkersDomain, "identity_mismatch");
      spdlog::warn("broker: READY as worker '{}' from the key of '{}': refused", ready->worker_id,
                   sender_->name);
      return;
    }
    on_ready(peer, *ready);
    return;
  }
  const std::string worker = worker_of(peer);
  if (sender_ != nullptr && !worker.empty() && worker != sender_->name) {
    metrics_->auth_refused(kWorkersDomain, "identity_mismatch");
    return;
  }
  if (worker.empty() || !dispatcher_.on_worker_message(worker)) {
    // Unknown (expired, or the broker restarted): drop it and ask the worker to READY.
    counters_.stale_dropped.fetch_add(1, std::memory_order_relaxed);
    if (ports_.send_worker(peer, schemas::make_frames(schemas::BrokerDisconnect{
            .reason = "unknown worker: send READY"})) != SendResult::kSent) {
      counters_.send_failures.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, schemas::WorkerHeartbeat>) on_heartbeat(worker, m);
        else if constexpr (std::is_same_v<T, schemas::WorkerTokens>) on_tokens(worker, m);
        else if constexpr (std::is_same_v<T, schemas::WorkerDone>) on_done(worker, m);
        else if constexpr (std::is_same_v<T, schemas::WorkerFailed>) on_failed(worker, m);
        else if constexpr (std::is_same_v<T, schemas::WorkerDisconnect>)
          on_worker_disconnect(peer, worker, m.reason);
      },
      parsed.value());
}

void BrokerState::on_worker_disconnect(const RoutingIds& peer, const std::string& worker,
                                      const std::string& reason) {
  spdlog::info("broker: worker {} disconnects: {}", worker, reason);
  execute(dispatcher_.on_worker_disconnect(worker));
  forget_worker_route(worker);
  peer_workers_.erase(peer.front());
}

void BrokerState::on_worker_revoked(const std::string& worker) {
  auto route = worker_routes_.find(worker);
  if (route == worker_routes_.end()) return;
  spdlog::warn("broker: worker {}: its key was revoked; its jobs go elsewhere", worker);
  const RoutingIds peer = route->second;
  execute(dispatcher_.on_worker_disconnect(worker));
  forget_worker_route(worker);
  if (!peer.empty()) peer_workers_.erase(peer.front());
}

void BrokerState::on_ready(const RoutingIds& peer, const schemas::WorkerReady& ready) {
  if (ready.worker_id.empty() || peer.empty()) {
    count_malformed(ErrorCode::kInvalidArgument);
    return;
  }
  WorkerReady spec{.id = ready.worker_id};
  for (const schemas::DeviceInfo& d : ready.devices) {
    if (d.index < 0) continue;
    spec.devices.push_back(DeviceSpec{.index = static_cast<uint32_t>(d.index),
                                      .slots = d.max_slots, .models = d.models});
  }
  for (const schemas::ReadyJob& j : ready.jobs) {
    if (j.device < 0) continue;
    spec.jobs.push_back(ClaimedJob{.job = j.job_id, .attempt = j.attempt,
                                   .device = static_cast<uint32_t>(j.device)});
  }
  auto old = worker_routes_.find(ready.worker_id);
  if (old != worker_routes_.end()) peer_workers_.erase(old->second.front());
  worker_routes_[ready.worker_id] = peer;
  peer_workers_[peer.front()] = ready.worker_id;
  note_worker_fd(recv_fd_, ready.worker_id);
  loads_.erase(ready.worker_id);
  spdlog::info("broker: worker {} ready with {} device(s), holding {} job(s)", ready.worker_id,
               spec.devices.size(), spec.jobs.size());
  // The first beat doubles as the READY acknowledgement: sent now, before any DISPATCH.
  send_worker_now(ready.worker_id, schemas::BrokerHeartbeat{.broker_time_ms = now_unix_ms()});
  execute(dispatcher_.on_worker_ready(spec));
}

// Heartbeat figures are recorded for WORKERS only; credits never come from them
// (docs/BROKER.md, "Credits and heartbeats"). A device's model list (has_models) replaces
// the one it had: the Dispatcher re-routes.
void BrokerState::on_heartbeat(const std::string& worker, const schemas::WorkerHeartbeat& beat) {
  counters_.heartbeats.fetch_add(1, std::memory_order_relaxed);
  const uint64_t now_ms = now_unix_ms();
  auto& devices = loads_[worker];
  for (const schemas::DeviceLoad& d : beat.devices) {
    const DeviceKey key{worker, static_cast<uint32_t>(d.index)};
    if (d.index < 0 || dispatcher_.workers().device(key) == nullptr) {
      continue;  // not a device this worker declared in READY
    }
    DeviceHeartbeat& stored = devices[d.index];
    stored = DeviceHeartbeat{.load = d, .at_ms = now_ms};
    stored.load.models.clear();  // the Dispatcher's copy (WorkerTable) is the one reported
    if (d.has_models) execute(dispatcher_.on_device_models(key, d.models));
  }
}

// The job's entry if the entry is of its current attempt, dispatched to this worker (one
// lookup: the fence and the loop's part are in the same JobTable entry); else nullptr.
JobEntry* BrokerState::current_entry(const std::string& worker, const schemas::TokenEntry& e) {
  JobEntry* a = jobs_.find(e.job_id);  // admitted only
  return a != nullptr && a->device && a->attempt == e.attempt && a->device->worker == worker
             ? a
             : nullptr;
}

void BrokerState::on_tokens(const std::string& worker, schemas::WorkerTokens& tokens) {
  std::vector<schemas::TokenEntry> accepted;
  accepted.reserve(tokens.entries.size());
  for (schemas::TokenEntry& e : tokens.entries) {
    JobEntry* entry = current_entry(worker, e);
    if (entry == nullptr) {
      counters_.stale_dropped.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    LiveJob& job = entry->stream;
    if (e.seq != job.next_seq) {  // a retried attempt replays seqs already delivered
      counters_.stale_dropped.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (job.tokens.size() == job.next_seq) job.tokens.push_back(e.token);
    ++job.next_seq;
    if (!job.batch.empty()) job.text += e.text;  // the batch result carries the whole text
    if (job.first_token_ns == 0) job.first_token_ns = clock_.now_ns();
    accepted.push_back(std::move(e));
  }
  accept_tokens(accepted);
}

void BrokerState::on_done(const std::string& worker, const schemas::WorkerDone& done) {
  if (done.device < 0) return;
  EndResult r = dispatcher_.on_job_ended(done.job_id, done.attempt,
                                         DeviceKey{worker, static_cast<uint32_t>(done.device)});
  if (!r.current || !is_live(done.job_id)) {
    counters_.stale_dropped.fetch_add(1, std::memory_order_relaxed);
    execute(r.actions);
    return;
  }
  // Its tokens were staged before this DONE: Redis and the client get them first.
  bool cancelled = done.finish_reason == "cancelled";
  end_job(done.job_id, cancelled ? schemas::JobState::kCancelled : schemas::JobState::kSucceeded,
          cancelled ? ErrorCode::kCancelled : ErrorCode::kOk, cancelled ? "cancelled" : "", &done);
  execute(r.actions);
}

// A retryable failure requeues the job with attempt + 1 (failing it with max_attempts when
// they are used up); any other code ends the job FAILED (CANCELLED for cancelled) at once.
void BrokerState::on_failed(const std::string& worker, const schemas::WorkerFailed& failed) {
  if (failed.device < 0) return;
  const DeviceKey from{worker, static_cast<uint32_t>(failed.device)};
  const bool retry = is_retryable(failed.code);
  const bool model_gone = failed.code == ErrorCode::kModelUnavailable;
  // A draining worker handed the job back: requeued (resumed from its log) without
  // using up an attempt.
  const bool counted = failed.code != ErrorCode::kDraining;
  EndResult r = retry ? dispatcher_.on_job_retry(failed.job_id, failed.attempt, from, model_gone,
                                                 counted)
                      : dispatcher_.on_job_ended(failed.job_id, failed.attempt, from);
  if (!r.current || !is_live(failed.job_id)) {
    counters_.stale_dropped.fetch_add(1, std::memory_order_relaxed);
    execute(r.actions);
    return;
  }
  if (retry) {
    for (Action& a : r.actions) {  // the last failure says why the attempts were used up
      if (a.kind == ActionKind::kFail && a.job == failed.job_id && a.reason == Reason::kMaxAttempts) {
        a.detail += " (last: " + std::string(schemas::error_code_name(failed.code)) + ": " +
                    failed.message + ")";
      }
    }
    bool requeued = std::any_of(r.actions.begin(), r.actions.end(), [&](const Action& a) {
      return a.kind == ActionKind::kRequeued && a.job == failed.job_id;
    });
    if (requeued) counters_.retried.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("broker: job {} attempt {} failed on {} ({}): retrying", failed.job_id,
                 failed.attempt, worker, schemas::error_code_name(failed.code));
    execute(r.actions);
    return;
  }
  schemas::JobState state = failed.code == ErrorCode::kCancelled ? schemas::JobState::kCancelled
                                                                   : schemas::JobState::kFailed;
  end_job(failed.job_id, state, failed.code, failed.message, nullptr);
  execute(r.actions);
}

}  // namespace rs::broker
