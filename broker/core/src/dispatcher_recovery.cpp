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
  const JobAttempts::Entry* entry = attempts_.find(claim.job);
  auto live = live_.find(claim.job);
  bool current = entry != nullptr && live != live_.end() && entry->attempt == claim.attempt;
  if (current && held_here) {
    current = entry->device && *entry->device == device;
  } else if (current) {
    auto r = recovering_.find(claim.job);
    current = r != recovering_.end() && r->second == device;
  }
  if (!current || !workers_.assign(device, claim.job)) {
    out.push_back(make_device_action(ActionKind::kCancelOnWorker, claim.job, device,
                                     claim.attempt, "not adopted: no longer current"));
    return false;
  }
  attempts_.set_dispatched(claim.job, device);
  recovering_.erase(claim.job);
  out.push_back(make_device_action(ActionKind::kAdopted, claim.job, device, claim.attempt));
  if (live->second.cancel_requested) {
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
    if (live_.count(job.spec.id) != 0 || !attempts_.restore(job.spec.id, job.attempt)) continue;
    recover_one(job);
    if (!job.device) queued.push_back(&job);
  }
  // Oldest at the head: pushed to the front newest first, ahead of anything new.
  for (auto it = queued.rbegin(); it != queued.rend(); ++it) {
    queue_.push_front(to_queued((*it)->spec, attempts_.find((*it)->spec.id)->attempt));
    note_queued((*it)->spec.model);
  }
  drain_all(out);
  return out;
}

void Dispatcher::recover_one(RecoveredJob& job) {
  LiveJob live;
  live.spec = job.spec;
  live.target = target_of(job.spec);
  if (job.device) {
    live.dispatched_key = job.dispatched_key;
    recovering_[job.spec.id] = *job.device;
  }
  live_.emplace(job.spec.id, std::move(live));
}

// The adoption deadline passed: jobs no worker listed are requeued (a new attempt).
void Dispatcher::requeue_unadopted(Actions& out) {
  if (recovering_.empty() || clock_.now_ns() < adopt_deadline_ns_) return;
  std::vector<HeldJob> held;
  held.reserve(recovering_.size());
  for (const auto& [job, device] : recovering_) held.push_back(HeldJob{job, device});
  recovering_.clear();
  requeue(std::move(held), out);
  drain_all(out);
}

}  // namespace rs::broker
