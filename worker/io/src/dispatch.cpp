// WorkerLoop: broker -> worker messages (DISPATCH, CANCEL_JOB, BROKER_HEARTBEAT,
// BROKER_DISCONNECT) and the table of jobs in flight (job id -> device, current attempt).
#include <spdlog/spdlog.h>

#include <type_traits>

#include "rs/schemas/codec.h"
#include "rs/worker/io/job_mapping.h"
#include "rs/worker/io/worker_loop.h"

namespace rs::worker::io {

using schemas::ErrorCode;

void WorkerLoop::on_broker_message(schemas::Message& message) {
  if (auto* d = std::get_if<schemas::BrokerDisconnect>(&message)) {
    on_broker_disconnect(*d);
    return;
  }
  // Anything else from the broker means it knows us: the first one acknowledges READY
  // (the broker answers READY with a heartbeat).
  if (state_ == State::kAwaitingAck) {
    // Counted before the state is published, so whoever sees registered() sees the count.
    counters_.registrations.fetch_add(1, std::memory_order_relaxed);
    set_state(State::kRegistered);
    backoff_.reset();
    broker_beat_.reset();  // the first heartbeat (with our load) goes out this turn
    spdlog::info("worker {}: registered with {}", options_.worker_id, options_.broker_endpoint);
  }
  std::visit(
      [this](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, schemas::Dispatch>) on_dispatch(m);
        else if constexpr (std::is_same_v<T, schemas::CancelJob>) on_cancel(m);
      },
      message);
}

void WorkerLoop::on_broker_disconnect(const schemas::BrokerDisconnect& disconnect) {
  counters_.broker_disconnects.fetch_add(1, std::memory_order_relaxed);
  // While READY is unacknowledged, a BROKER_DISCONNECT answers a message sent before it
  // (the broker reads in order): READY is already on its way, so nothing more to do.
  if (state_ == State::kAwaitingAck || ready_pending_) return;
  spdlog::warn("worker {}: broker says '{}': READY again", options_.worker_id, disconnect.reason);
  ready_pending_ = true;  // sent by maintain_connection once every engine beats
}

void WorkerLoop::on_dispatch(schemas::Dispatch& dispatch) {
  // Sent before the broker saw our empty model list: it requeues the job elsewhere.
  if (drain_phase_ != DrainPhase::kNone) {
    return refuse(dispatch, ErrorCode::kDraining,
                  "worker " + options_.worker_id + " is draining: it takes no new jobs");
  }
  const int n = static_cast<int>(hosts_.size());
  if (dispatch.device < 0 || dispatch.device >= n) {
    return refuse(dispatch, ErrorCode::kInvalidArgument,
                  "worker " + options_.worker_id + " has no device " +
                      std::to_string(dispatch.device) + " (it has " + std::to_string(n) + ")");
  }
  // The broker chose a key from our latest READY / heartbeat; it may have been retired
  // since (a swap): model_unavailable, which the broker retries elsewhere.
  if (!serves(dispatch.request.model)) {
    return refuse(dispatch, ErrorCode::kModelUnavailable,
                  "worker " + options_.worker_id + " has no engine for model '" +
                      dispatch.request.model + "'");
  }
  auto it = in_flight_.find(dispatch.job_id);
  if (it != in_flight_.end()) {
    if (dispatch.attempt <= it->second.attempt) {  // a stale or repeated dispatch
      counters_.stale_outputs.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("worker {}: dispatch of {} attempt {} dropped: attempt {} in flight",
                   options_.worker_id, dispatch.job_id, dispatch.attempt, it->second.attempt);
      return;
    }
    // A newer attempt: on the same device the DeviceHost replaces the old one itself.
    if (it->second.device != dispatch.device) {
      hosts_[static_cast<size_t>(it->second.device)]->cancel(dispatch.job_id);
    }
  }
  in_flight_[dispatch.job_id] =
      InFlight{dispatch.device, dispatch.attempt, dispatch.resume_tokens.size()};
  counters_.dispatches.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("worker {}: job {} attempt {} starts on device {} ({} tokens resumed)",
                options_.worker_id, dispatch.job_id, dispatch.attempt, dispatch.device,
                dispatch.resume_tokens.size());
  hosts_[static_cast<size_t>(dispatch.device)]->submit(
      dispatch.job_id, static_cast<int>(dispatch.attempt), to_generation_request(dispatch),
      dispatch.request.model);
}

void WorkerLoop::on_cancel(const schemas::CancelJob& cancel) {
  auto it = in_flight_.find(cancel.job_id);
  if (it == in_flight_.end() || it->second.attempt != cancel.attempt) {
    counters_.cancels_ignored.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // The job ends CANCELLED in a coming batch (WORKER_DONE "cancelled"), its KV blocks freed.
  it->second.cancel_requested = true;
  hosts_[static_cast<size_t>(it->second.device)]->cancel(cancel.job_id);
  counters_.cancels_applied.fetch_add(1, std::memory_order_relaxed);
}

void WorkerLoop::refuse(const schemas::Dispatch& dispatch, ErrorCode code, std::string message) {
  counters_.dispatches_refused.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("worker {}: job {} refused: {}", options_.worker_id, dispatch.job_id, message);
  if (send(schemas::WorkerFailed{.job_id = dispatch.job_id, .attempt = dispatch.attempt,
                                 .device = dispatch.device, .code = code,
                                 .message = std::move(message)})) {
    counters_.failed_sent.fetch_add(1, std::memory_order_relaxed);
  }
}

std::vector<schemas::ReadyJob> WorkerLoop::held_jobs() const {
  std::vector<schemas::ReadyJob> jobs;
  jobs.reserve(in_flight_.size());
  for (const auto& [job_id, job] : in_flight_) {
    jobs.push_back(schemas::ReadyJob{.job_id = job_id, .attempt = job.attempt,
                                     .device = job.device,
                                     .n_tokens = job.n_resumed + job.tokens.size()});
  }
  return jobs;
}

// A held job's tokens again, in WORKER_TOKENS of about kTokensMessageBytes each (with
// alternatives and prompt logprobs a long job's tokens may not fit in one frame).
void WorkerLoop::resend_tokens(const std::vector<schemas::TokenEntry>& tokens) {
  schemas::WorkerTokens message;
  size_t bytes = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    message.entries.push_back(tokens[i]);
    bytes += schemas::approx_wire_bytes(tokens[i]);
    if (bytes < kTokensMessageBytes && i + 1 < tokens.size()) continue;
    if (send(message)) counters_.tokens_resent.fetch_add(message.entries.size(), std::memory_order_relaxed);
    message.entries.clear();
    bytes = 0;
  }
}

// Right behind READY: each held job's tokens from seq 0 (the broker keeps what it lacks),
// then the ends that found no broker; those jobs are then forgotten.
void WorkerLoop::resend_held_jobs() {
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    InFlight& job = it->second;
    resend_tokens(job.tokens);
    if (!job.final) {
      ++it;
      continue;
    }
    if (send(*job.final)) {
      if (std::holds_alternative<schemas::WorkerDone>(*job.final)) {
        counters_.done_sent.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters_.failed_sent.fetch_add(1, std::memory_order_relaxed);
      }
    }
    it = in_flight_.erase(it);
  }
}

}  // namespace rs::worker::io
