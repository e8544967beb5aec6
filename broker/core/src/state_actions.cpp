// BrokerState: carrying out the Dispatcher's actions and ending jobs. Writes and sends are
// staged in the turn's batch: the commit writes Redis first, then sends.
#include <spdlog/spdlog.h>

#include "rs/broker/broker_state.h"
#include "rs/schemas/errors.h"
#include "turn_batch.h"

namespace rs::broker {

using schemas::ErrorCode;
using schemas::JobState;

namespace {

ErrorCode fail_code(Reason reason) {
  switch (reason) {
    case Reason::kMaxAttempts: return ErrorCode::kMaxAttempts;
    case Reason::kModelUnavailable: return ErrorCode::kModelUnavailable;
    case Reason::kExpired: return ErrorCode::kExpired;
    default: return ErrorCode::kTimeout;
  }
}

// The record's finish_reason: the worker's for a job that ran to its end ("stop" when an
// older worker sends none), else fixed by the state.
std::string finish_reason_for(JobState state, const schemas::WorkerDone* done) {
  if (state == JobState::kCancelled) return "cancelled";
  if (state == JobState::kFailed) return "error";
  return done == nullptr || done->finish_reason.empty() ? "stop" : done->finish_reason;
}

}  // namespace

void BrokerState::execute(const Actions& actions) {
  for (const Action& a : actions) {
    switch (a.kind) {
      case ActionKind::kDispatch: execute_dispatch(a); break;
      case ActionKind::kReject: break;  // handled where the submission is answered
      case ActionKind::kRequeued: execute_requeued(a); break;
      case ActionKind::kFail:
        end_job(a.job, JobState::kFailed, fail_code(a.reason),
                a.detail.empty() ? std::string(reason_name(a.reason)) : a.detail, nullptr);
        break;
      case ActionKind::kCancelled:
        end_job(a.job, JobState::kCancelled, ErrorCode::kCancelled, "cancelled", nullptr);
        break;
      case ActionKind::kCancelOnWorker:
        post_worker(a.device.worker,
                    schemas::CancelJob{.job_id = a.job, .attempt = a.attempt,
                                       .device = static_cast<int32_t>(a.device.index)});
        break;
      case ActionKind::kWorkerLost:
        spdlog::warn("broker: worker {} lost: {}", a.device.worker, a.detail);
        forget_worker_route(a.device.worker);
        break;
      case ActionKind::kAdopted: on_adopted(a); break;
    }
  }
}

void BrokerState::execute_dispatch(const Action& a) {
  LiveJob* live = live_job(a.job);
  if (live == nullptr) return;
  LiveJob& job = *live;
  counters_.dispatched.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("broker: job {} attempt {} dispatched to worker {} device {}", a.job, a.attempt,
                a.device.worker, a.device.index);
  if (a.enqueued_ns != 0) {
    metrics_->dispatched(job.request.priority,
                         static_cast<double>(clock_.now_ns() - a.enqueued_ns) / 1e9, a.attempt);
  }
  job.record.state = JobState::kDispatched;
  job.record.attempt = a.attempt;
  job.record.worker = a.device.worker;
  job.record.device = static_cast<int32_t>(a.device.index);
  job.record.dispatched_ms = now_unix_ms();
  job.record.model_version = a.model_version;
  job.running_written = false;
  batch_->add_job_change(
      a.job, JobChange{.transition = schemas::JobTransition{.to = JobState::kDispatched,
                                                            .attempt = a.attempt,
                                                            .worker = a.device.worker,
                                                            .device = job.record.device,
                                                            .at_ms = job.record.dispatched_ms},
                       .model_version = a.model_version});
  // Sent after the commit that writes DISPATCHED; a failed send drops the worker then. The
  // worker gets the model key the job runs on.
  schemas::Dispatch dispatch{.job_id = a.job, .attempt = a.attempt, .device = job.record.device,
                             .request = job.request, .created_ms = job.record.created_ms};
  dispatch.request.model = a.model_key;
  // Resume from the log: a later attempt continues after the tokens already delivered.
  if (job.next_seq != 0 && job.tokens.size() == job.next_seq) dispatch.resume_tokens = job.tokens;
  post_worker(a.device.worker, dispatch);
}

void BrokerState::execute_requeued(const Action& a) {
  LiveJob* live = live_job(a.job);
  if (live == nullptr) return;
  live->record.state = JobState::kQueued;
  live->record.attempt = a.attempt;
  write_transition(a.job, schemas::JobTransition{.to = JobState::kQueued, .attempt = a.attempt,
                                                 .at_ms = now_unix_ms()});
}

schemas::Usage BrokerState::finish_usage(const LiveJob& job, const schemas::Usage* worker_usage) const {
  schemas::Usage u;
  if (worker_usage != nullptr) u = *worker_usage;
  if (u.completion_tokens == 0) u.completion_tokens = static_cast<uint32_t>(job.next_seq);
  int64_t now = clock_.now_ns();
  if (job.record.dispatched_ms >= job.record.created_ms && job.record.dispatched_ms != 0) {
    u.queue_ms = static_cast<double>(job.record.dispatched_ms - job.record.created_ms);
  }
  if (job.first_token_ns != 0) {
    u.ttft_ms = static_cast<double>(job.first_token_ns - job.accepted_ns) / 1e6;
    double decode_s = static_cast<double>(now - job.first_token_ns) / 1e9;
    if (decode_s > 0 && u.completion_tokens > 1) u.decode_tps = (u.completion_tokens - 1) / decode_s;
  }
  return u;
}

void BrokerState::end_job(const JobId& id, JobState state, ErrorCode code, const std::string& error,
                         const schemas::WorkerDone* worker_done) {
  LiveJob* live = live_job(id);
  if (live == nullptr) return;
  LiveJob& job = *live;
  job.record.state = state;
  job.record.usage = finish_usage(job, worker_done != nullptr ? &worker_done->usage : nullptr);
  job.record.error_code = code;
  job.record.error = error;
  job.record.finished_ms = now_unix_ms();
  job.record.finish_reason = finish_reason_for(state, worker_done);
  write_transition(id, schemas::JobTransition{.to = state,
                                         .at_ms = job.record.finished_ms,
                                         .usage = job.record.usage,
                                         .error_code = code,
                                         .error = error,
                                         .finish_reason = job.record.finish_reason});
  if (code == ErrorCode::kMaxAttempts) {
    batch_->add_write(DeadLetter{.job = id});
    metrics_->dead_lettered();
  }
  metrics_->ended(job.request.model, state);
  batch_->add_write(RemoveLive{.job = id});
  // The job's tokens of this turn go with (before) its marker.
  batch_->add_write(FinishLog{.job = id, .state = state, .n_tokens = job.next_seq,
                              .tokens = batch_->take_tokens(id)});
  schemas::Done done{.record = job.record};
  if (!job.submitter.empty() && !job.submitter_subscribed) {
    post_stream(job.submitter, id, done, job.next_seq);
  }
  for (const Subscriber& s : job.subscribers) post_stream(s.peer, id, done, job.next_seq);
  finish_batch_job(id, job);  // TTL and batch result (ingest.cpp)
  counters_.finished.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("broker: job {} ended {} ({} tokens)", id, schemas::job_state_name(state),
                job.next_seq);
  jobs_.erase(id);
}

// The broker's transitions are job changes (the broker is the single writer and fences
// state and attempts in memory; the store sets the fields).
void BrokerState::write_transition(const JobId& job, schemas::JobTransition t) {
  batch_->add_job_change(job, JobChange{.transition = std::move(t)});
}

void BrokerState::add_write(StoreWrite write) { batch_->add_write(std::move(write)); }

}  // namespace rs::broker
