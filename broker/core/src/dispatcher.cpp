#include "rs/broker/dispatcher.h"

#include <algorithm>
#include <set>
#include <utility>

#include "dispatcher_actions.h"

namespace rs::broker {

std::string_view action_kind_name(ActionKind kind) {
  switch (kind) {
    case ActionKind::kDispatch: return "dispatch";
    case ActionKind::kReject: return "reject";
    case ActionKind::kRequeued: return "requeued";
    case ActionKind::kFail: return "fail";
    case ActionKind::kCancelled: return "cancelled";
    case ActionKind::kCancelOnWorker: return "cancel_on_worker";
    case ActionKind::kWorkerLost: return "worker_lost";
    case ActionKind::kAdopted: return "adopted";
  }
  return "unknown";
}

std::string_view reason_name(Reason reason) {
  switch (reason) {
    case Reason::kNone: return "none";
    case Reason::kQueueFull: return "queue_full";
    case Reason::kDuplicateJob: return "duplicate_job";
    case Reason::kQueueTimeout: return "queue_timeout";
    case Reason::kMaxAttempts: return "max_attempts";
    case Reason::kModelUnavailable: return "model_unavailable";
    case Reason::kExpired: return "expired";
  }
  return "unknown";
}

Dispatcher::Dispatcher(const rs::Clock& clock, DispatcherOptions options, JobTable* jobs)
    : clock_(clock),
      options_(options),
      router_(options.router),
      queue_(clock, options.queue),
      workers_(clock, options.workers),
      own_jobs_(std::max<uint32_t>(1, options.max_attempts)),
      jobs_(jobs != nullptr ? *jobs : own_jobs_),
      catalog_(options.catalog) {
  jobs_.set_max_attempts(std::max<uint32_t>(1, options.max_attempts));
}

QueuedJob Dispatcher::to_queued(const JobSubmit& spec, uint32_t attempt) const {
  QueuedJob q;
  q.id = spec.id;
  q.model = spec.model;
  q.priority = spec.priority;
  q.route_key = spec.route_key;
  q.attempt = attempt;
  if (attempt == 1) q.expires_ns = spec.expires_ns;  // a job that ran once is not "expired"
  return q;
}

Actions Dispatcher::on_job_submitted(const JobSubmit& job) {
  Actions out;
  if (jobs_.contains(job.id)) {
    out.push_back(make_action(ActionKind::kReject, job.id, 0, Reason::kDuplicateJob,
                              "a job with this id is already live"));
    return out;
  }
  JobEntry* entry = jobs_.add(job, target_of(job));
  if (!paused_ && queue_.size(job.model) == 0) {
    if (auto placed = place(*entry)) {
      dispatch(job.id, placed->first, placed->second, out, clock_.now_ns());
      return out;
    }
  }
  if (queue_.push(to_queued(job, 1)) != PushResult::kQueued) {
    jobs_.end(job.id);
    out.push_back(make_action(ActionKind::kReject, job.id, 0, Reason::kQueueFull,
                              "the broker queue is full"));
    return out;
  }
  note_queued(job.model);
  drain(job.model, out);  // normally a no-op: a non-empty queue means no capacity
  return out;
}

bool Dispatcher::on_worker_message(const WorkerId& worker) { return workers_.touch(worker); }

Actions Dispatcher::on_worker_disconnect(const WorkerId& worker) {
  Actions out;
  lose_worker(worker, "disconnected", out);
  return out;
}

void Dispatcher::unroute_worker(const WorkerId& worker) {
  const WorkerEntry* entry = workers_.find(worker);
  if (entry == nullptr) return;
  for (const auto& [index, state] : entry->devices) {
    for (const ModelName& key : state.models) route_off(key, {worker, index});
  }
}

void Dispatcher::lose_worker(const WorkerId& worker, const char* why, Actions& out) {
  if (!workers_.contains(worker)) return;
  out.push_back(make_device_action(ActionKind::kWorkerLost, {}, DeviceKey{worker, 0}, 0, why));
  unroute_worker(worker);
  requeue(workers_.remove_worker(worker), out);
  drain_all(out);
}

void Dispatcher::requeue(std::vector<HeldJob> held, Actions& out) {
  // Newest first, each to the front: the oldest job ends up at the head of its queue.
  std::sort(held.begin(), held.end(), [this](const HeldJob& a, const HeldJob& b) {
    return jobs_.find(a.job)->seq > jobs_.find(b.job)->seq;
  });
  for (const HeldJob& h : held) requeue_one(h.job, out);
}

void Dispatcher::requeue_one(const JobId& job, Actions& out, bool worker_lost, bool counted) {
  JobEntry* live = jobs_.find(job);
  if (live == nullptr) return;
  if (live->cancel_requested) {
    out.push_back(make_action(ActionKind::kCancelled, job, live->attempt, Reason::kNone,
                              "cancelled; its worker was lost"));
    finish(job);
    return;
  }
  uint32_t previous = live->attempt;
  std::optional<uint32_t> next = jobs_.next_attempt(job, counted);
  if (!next) {
    out.push_back(make_action(ActionKind::kFail, job, previous, Reason::kMaxAttempts,
                              (worker_lost ? "its worker was lost on each of "
                                           : "it failed on each of ") +
                                  std::to_string(previous) + " attempts"));
    finish(job);
    return;
  }
  queue_.push_front(to_queued(live->spec, *next));
  note_queued(live->spec.model);
  out.push_back(make_action(ActionKind::kRequeued, job, *next));
}

void Dispatcher::finish(const JobId& job) { jobs_.end(job); }

EndResult Dispatcher::on_job_ended(const JobId& job, uint32_t attempt, const DeviceKey& from) {
  EndResult result;
  if (!jobs_.is_current(job, attempt, from)) return result;
  result.current = true;
  workers_.release(from, job);
  finish(job);
  drain_device(from, result.actions);
  return result;
}

EndResult Dispatcher::on_job_retry(const JobId& job, uint32_t attempt, const DeviceKey& from,
                                   bool model_gone, bool counted) {
  EndResult result;
  if (!jobs_.is_current(job, attempt, from)) return result;
  result.current = true;
  workers_.release(from, job);
  const JobEntry* live = jobs_.find(job);
  ModelName ref = live != nullptr ? live->spec.model : ModelName();
  if (model_gone && live != nullptr && !live->dispatched_key.empty()) {
    forget_device_key(from, live->dispatched_key);
  }
  requeue_one(job, result.actions, /*worker_lost=*/false, counted);
  if (!ref.empty()) drain(ref, result.actions);
  drain_device(from, result.actions);
  return result;
}

Actions Dispatcher::on_device_free(const DeviceKey& device) {
  Actions out;
  drain_device(device, out);
  return out;
}

Actions Dispatcher::on_slots_changed(const DeviceKey& device, uint32_t slots) {
  Actions out;
  if (workers_.set_slots(device, slots)) drain_device(device, out);
  return out;
}

Actions Dispatcher::on_cancel(const JobId& job) {
  Actions out;
  if (std::optional<QueuedJob> queued = queue_.remove(job)) {
    out.push_back(make_action(ActionKind::kCancelled, job, queued->attempt, Reason::kNone,
                              "cancelled while queued"));
    finish(job);
    return out;
  }
  JobEntry* entry = jobs_.find(job);
  if (entry != nullptr && entry->recovering_on) {
    entry->cancel_requested = true;  // cancelled when adopted, or when requeued
    return out;
  }
  if (entry == nullptr || !entry->device) return out;
  entry->cancel_requested = true;
  out.push_back(
      make_device_action(ActionKind::kCancelOnWorker, job, *entry->device, entry->attempt));
  return out;
}

Actions Dispatcher::tick() {
  Actions out;
  for (const WorkerId& worker : workers_.expired_workers()) lose_worker(worker, "expired", out);
  if (!paused_) fail_expired(out);  // the pause's time is not counted (set_dispatch_paused)
  requeue_unadopted(out);
  return out;
}

std::optional<int64_t> Dispatcher::next_wakeup_ns() const {
  std::optional<int64_t> a = paused_ ? std::nullopt : queue_.next_deadline_ns();
  std::optional<int64_t> b = workers_.next_expiry_ns();
  if (jobs_.recovering() != 0) b = b ? std::min(*b, adopt_deadline_ns_) : adopt_deadline_ns_;
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}

Actions Dispatcher::set_dispatch_paused(bool paused) {
  Actions out;
  if (paused == paused_) return out;
  paused_ = paused;
  if (paused) {
    paused_since_ns_ = clock_.now_ns();
    return out;
  }
  queue_.delay_deadlines(clock_.now_ns() - paused_since_ns_);
  fail_expired(out);  // the jobs whose own expiry passed meanwhile: never run
  drain_all(out);
  return out;
}

}  // namespace rs::broker
