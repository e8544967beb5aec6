// Dispatcher: jobs that outlive a broker or a connection. A worker's READY lists the jobs
// it still holds; those still current for it are adopted (they carry on where they run),
// the others are cancelled on the worker. On start the broker hands over the live jobs it
// read from Redis: queued ones are queued, dispatched ones wait for their worker's READY
// until a deadline and are then requeued.
#include <algorithm>
#include <set>

#include "dispatcher_actions.h"
#include "rs/broker/dispatcher.h"

namespace rs::broker {

Actions Dispatcher::on_worker_ready(const WorkerReady& ready) {
  Actions out;
  unroute_worker(ready.id);
  std::vector<HeldJob> held = workers_.register_worker(ready);
  for (const DeviceSpec& spec : ready.devices) {
    for (const ModelName& key : spec.models) route_on(key, {ready.id, spec.index});
  }
  std::set<JobId> held_ids;
  for (const HeldJob& h : held) held_ids.insert(h.job);
  std::set<JobId> adopted;
  for (const ClaimedJob& claim : ready.jobs) {
    if (adopt(ready.id, claim, held_ids.count(claim.job) != 0, out)) adopted.insert(claim.job);
  }
  std::erase_if(held, [&](const HeldJob& h) { return adopted.count(h.job) != 0; });
  requeue(std::move(held), out);
  drain_all(out);
  return out;
}

// held_here: the worker's previous registration (with this broker) held the job.
bool Dispatcher::adopt(const WorkerId& worker, const ClaimedJob& claim, bool held_here,
                       Actions& out) {
  const DeviceKey device{worker, claim.device};
  JobEntry* entry = jobs_.find(claim.job);
  bool current = entry != nullptr && entry->attempt == claim.attempt;
  if (current && held_here) {
    current = entry->device && *entry->device == device;
  } else if (current) {
    current = entry->recovering_on && *entry->recovering_on == device;
  }
  if (!current || !workers_.assign(device, claim.job)) {
    out.push_back(make_device_action(ActionKind::kCancelOnWorker, claim.job, device,
                                     claim.attempt, "not adopted: no longer current"));
    return false;
  }
  jobs_.set_dispatched(claim.job, device);  // no longer recovering
  out.push_back(make_device_action(ActionKind::kAdopted, claim.job, device, claim.attempt));
  if (entry->cancel_requested) {
    out.push_back(make_device_action(ActionKind::kCancelOnWorker, claim.job, device,
                                     claim.attempt));
  }
  return true;
}

Actions Dispatcher::on_recovered(std::vector<RecoveredJob> jobs, int64_t adopt_deadline_ns) {
  Actions out;
  adopt_deadline_ns_ = adopt_deadline_ns;
  std::vector<RecoveredJob*> queued;
  for (RecoveredJob& job : jobs) {
    if (jobs_.contains(job.spec.id)) continue;
    recover_one(job);
    if (!job.device) queued.push_back(&job);
  }
  // Oldest at the head: pushed to the front newest first, ahead of anything new.
  for (auto it = queued.rbegin(); it != queued.rend(); ++it) {
    queue_.push_front(to_queued((*it)->spec, jobs_.find((*it)->spec.id)->attempt));
    note_queued((*it)->spec.model);
  }
  drain_all(out);
  return out;
}

void Dispatcher::recover_one(RecoveredJob& job) {
  JobEntry* entry = jobs_.add(job.spec, target_of(job.spec), job.attempt);
  if (entry == nullptr || !job.device) return;
  entry->dispatched_key = job.dispatched_key;
  jobs_.set_recovering(*entry, *job.device);
}

// The adoption deadline passed: jobs no worker listed are requeued (a new attempt).
void Dispatcher::requeue_unadopted(Actions& out) {
  if (jobs_.recovering() == 0 || clock_.now_ns() < adopt_deadline_ns_) return;
  requeue(jobs_.take_recovering(), out);
  drain_all(out);
}

}  // namespace rs::broker
