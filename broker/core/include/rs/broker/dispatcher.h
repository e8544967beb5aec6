// Dispatcher: the broker core's one entry point for the poll loop. It owns the Router
// (rings by model key), JobQueue (queues by model reference), WorkerTable, JobTable (the
// one table of live jobs) and ModelCatalog, turns each event (submit, READY, heartbeat model list, registry change, job
// ended, cancel, clock tick) into a list of Actions for the loop to carry out (send, write
// to Redis), and does no I/O itself. Not thread-safe: the broker loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rs/broker/job_queue.h"
#include "rs/broker/job_table.h"
#include "rs/broker/model_catalog.h"
#include "rs/broker/router.h"
#include "rs/broker/types.h"
#include "rs/broker/worker_table.h"
#include "rs/core/clock.h"

namespace rs::broker {

enum class ActionKind {
  kDispatch,        // send job to device with attempt (job is now DISPATCHED)
  kReject,          // refuse a submission at once (reason: queue full, duplicate id)
  kRequeued,        // job is QUEUED again with a new attempt (its worker was lost)
  kFail,            // job FAILED (reason); kMaxAttempts also means: dead-letter it
  kCancelled,       // job ended CANCELLED (it was still queued, or its worker was lost)
  kCancelOnWorker,  // ask device to cancel (job, attempt); it ends on the worker's answer
  kWorkerLost,      // device.worker expired or disconnected (detail says which)
  kAdopted,         // a job its worker still held at READY carries on there (device, attempt)
};

enum class Reason {
  kNone,
  kQueueFull,     // max_queued reached
  kDuplicateJob,  // a live job already has this id
  kQueueTimeout,  // waited wait_timeout_ms for a device
  kMaxAttempts,   // its workers died max_attempts times
  kModelUnavailable,  // nobody served its model (version) for model_wait_ms
  kExpired,       // still queued at its expiry (SUBMIT expires_ms): never run
};

std::string_view action_kind_name(ActionKind kind);
std::string_view reason_name(Reason reason);

struct Action {
  ActionKind kind = ActionKind::kDispatch;
  JobId job;
  DeviceKey device;      // kDispatch, kCancelOnWorker, kWorkerLost (worker only)
  uint32_t attempt = 0;  // kDispatch, kRequeued, kCancelOnWorker
  Reason reason = Reason::kNone;
  std::string detail;    // human-readable, for logs and the job's error field
  ModelName model_key;     // kDispatch: the key it runs on ("tiny@2", or "tiny" unversioned)
  uint32_t model_version = 0;  // kDispatch: the version in model_key (0: unversioned)
  int64_t enqueued_ns = 0;     // kDispatch: when the attempt was queued (0: never queued)
};
using Actions = std::vector<Action>;

// A live job read back from Redis when the broker starts: QUEUED (no device) or
// DISPATCHED / RUNNING on `device` at `attempt`.
struct RecoveredJob {
  JobSubmit spec;
  uint32_t attempt = 1;
  std::optional<DeviceKey> device;
  ModelName dispatched_key;  // the model key its attempt runs on (with a device)
};

struct DispatcherOptions {
  RouterOptions router;
  JobQueueOptions queue;
  WorkerTableOptions workers;
  ModelCatalogOptions catalog;
  uint32_t max_attempts = 3;
};

// What on_job_ended says: whether the message was current (else drop it: stale attempt).
struct EndResult {
  bool current = false;
  Actions actions;
};

class Dispatcher {
 public:
  // jobs: the owner's table of live jobs (the broker loop's), or nullptr for one of its own.
  explicit Dispatcher(const rs::Clock& clock, DispatcherOptions options = {},
                      JobTable* jobs = nullptr);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // SUBMIT: [] (queued), [kDispatch], or [kReject].
  Actions on_job_submitted(const JobSubmit& job);
  // READY: registers (or re-registers) the worker, adopts the jobs it lists that are still
  // current for it ([kAdopted]; the rest get [kCancelOnWorker]), requeues what its old
  // registration held and it no longer lists, and fills its free slots from the queue.
  Actions on_worker_ready(const WorkerReady& ready);
  // Broker start: the live jobs Redis holds, oldest first. QUEUED ones are queued ahead of
  // anything new; DISPATCHED / RUNNING ones wait until adopt_deadline_ns for their worker's
  // READY to list them, and are then requeued with attempt + 1 (tick()).
  Actions on_recovered(std::vector<RecoveredJob> jobs, int64_t adopt_deadline_ns);
  // Jobs still waiting for their worker to re-register.
  size_t recovering() const { return jobs_.recovering(); }
  // Any inbound message from a worker (heartbeat, tokens): false if the worker is unknown
  // (the loop should ask it to send READY again).
  bool on_worker_message(const WorkerId& worker);
  Actions on_worker_disconnect(const WorkerId& worker);
  // DONE / FAILED / CANCELLED from a device for (job, attempt): frees the slot and refills.
  EndResult on_job_ended(const JobId& job, uint32_t attempt, const DeviceKey& from);
  // A retryable failure of (job, attempt) on a device: frees the slot and requeues the job
  // at the front with attempt + 1 ([kRequeued, maybe kDispatch]), or fails it ([kFail]
  // kMaxAttempts) when its attempts are used up; [kCancelled] if a cancel was pending.
  // model_gone (the worker answered model_unavailable): the device is also taken off the
  // ring of the key the job was sent with until a heartbeat or READY lists it again.
  // counted = false (a draining worker handed the job back): no attempt is used up.
  EndResult on_job_retry(const JobId& job, uint32_t attempt, const DeviceKey& from,
                         bool model_gone = false, bool counted = true);
  // A heartbeat's model list for a device (has_models): the device joins the rings of new
  // keys and leaves those of keys it no longer lists (its jobs in flight finish normally);
  // then queues are drained. [kDispatch...]
  Actions on_device_models(const DeviceKey& device, const std::vector<ModelName>& keys);
  // The registry changed (active / canary versions, names, versions): queues are drained
  // with the new resolution. [kDispatch...]
  Actions on_registry(std::vector<RegistryModel> models);
  // A device gained capacity (credits): refill it from the queue.
  Actions on_device_free(const DeviceKey& device);
  Actions on_slots_changed(const DeviceKey& device, uint32_t slots);
  // CANCEL: [kCancelled] if queued, [kCancelOnWorker] if running, [] if unknown.
  Actions on_cancel(const JobId& job);
  // Clock-driven work: expire silent workers, fail jobs that waited too long.
  Actions tick();
  // When tick() next has something to do (for the poll timeout); nullopt: nothing pending.
  std::optional<int64_t> next_wakeup_ns() const;
  // Dispatch pause (the loop pauses while too many Redis writes wait: --max-held-writes).
  // While paused nothing is dispatched: new and requeued jobs queue, queued jobs stay
  // queued, dispatched ones run on (cancel, end, adoption and worker expiry work as usual).
  // Queued jobs do not fail meanwhile: the paused time does not count toward their queue
  // timeout or model wait, and a job whose own expiry passes is failed `expired` when
  // dispatch resumes, before anything is dispatched. Resuming returns those failures and a
  // drain of every queue ([kFail..., kDispatch...]); pausing returns nothing.
  Actions set_dispatch_paused(bool paused);
  bool dispatch_paused() const { return paused_; }

  // The fence: is a message for (job, attempt) from device current?
  bool is_current(const JobId& job, uint32_t attempt, const DeviceKey& from) const {
    return jobs_.is_current(job, attempt, from);
  }

  const Router& router() const { return router_; }
  const JobQueue& queue() const { return queue_; }
  const WorkerTable& workers() const { return workers_; }
  const JobTable& jobs() const { return jobs_; }
  const ModelCatalog& catalog() const { return catalog_; }
  size_t live_jobs() const { return jobs_.size(); }

 private:
  // dispatcher_models.cpp: resolution, rings, draining, model waits.
  static ModelTarget target_of(const JobSubmit& job);
  std::optional<std::pair<DeviceKey, ResolvedModel>> place(const JobEntry& job) const;
  // enqueued_ns: when the attempt was queued (now, if it never was).
  void dispatch(const JobId& job, const DeviceKey& device, const ResolvedModel& model,
                Actions& out, int64_t enqueued_ns);
  void drain(const ModelName& ref, Actions& out);
  void drain_scan(const ModelName& ref, Actions& out);
  void drain_device(const DeviceKey& device, Actions& out);
  void drain_all(Actions& out);
  void route_on(const ModelName& key, const DeviceKey& device);
  void route_off(const ModelName& key, const DeviceKey& device);
  void forget_device_key(const DeviceKey& device, const ModelName& key);
  void refresh_model_waits(const ModelName& name);
  void note_queued(const ModelName& ref);
  void fail_expired(Actions& out);
  void lose_worker(const WorkerId& worker, const char* why, Actions& out);
  void unroute_worker(const WorkerId& worker);
  void requeue(std::vector<HeldJob> held, Actions& out);
  // worker_lost: its worker was lost (else the attempt failed on the worker).
  void requeue_one(const JobId& job, Actions& out, bool worker_lost = true, bool counted = true);
  void finish(const JobId& job);
  // dispatcher_recovery.cpp: adoption and restart recovery.
  bool adopt(const WorkerId& worker, const ClaimedJob& claim, bool held_here, Actions& out);
  void recover_one(RecoveredJob& job);
  void requeue_unadopted(Actions& out);
  QueuedJob to_queued(const JobSubmit& spec, uint32_t attempt) const;

  const rs::Clock& clock_;
  DispatcherOptions options_;
  Router router_;
  JobQueue queue_;
  WorkerTable workers_;
  JobTable own_jobs_;
  JobTable& jobs_;  // own_jobs_ or the owner's
  ModelCatalog catalog_;
  int64_t adopt_deadline_ns_ = 0;
  bool paused_ = false;         // set_dispatch_paused
  int64_t paused_since_ns_ = 0;  // when the pause began
};

}  // namespace rs::broker
