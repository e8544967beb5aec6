// JobTable: the broker core's one table of live jobs. Each entry holds everything the core
// knows of a job: its spec and parsed model target, its current attempt and the device it
// runs on (the fence that tells a current message from a stale one), the model key it was
// dispatched with, a pending cancel, and, for a job recovered after a restart, the device
// it waits on to be adopted. Owned by the Dispatcher; the broker loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rs/broker/model_catalog.h"
#include "rs/broker/types.h"

namespace rs::broker {

struct JobSubmit {
  JobId id;
  ModelName model;  // reference: "name" (unpinned) or "name@version" (pinned)
  Priority priority = Priority::kInteractive;
  uint64_t route_key = 0;  // routing_key(RouteRequest)
  std::string session_id;  // empty: none (session stickiness, canary bucket)
  int64_t expires_ns = 0;  // 0, or (clock time) a first attempt still queued then fails expired
};

struct JobEntry {
  JobSubmit spec;
  ModelTarget target;               // parsed spec.model, session and route key
  uint32_t attempt = 1;             // the current attempt (>= 1)
  std::optional<DeviceKey> device;  // set while the current attempt is dispatched
  uint64_t seq = 0;                 // submission order, for fair requeueing
  uint32_t uncounted = 0;           // attempts handed back (a draining worker): not failures
  ModelName dispatched_key;         // the key of the current attempt while dispatched
  bool cancel_requested = false;
  // Recovered after a restart as dispatched on this device: waits for its worker's READY.
  std::optional<DeviceKey> recovering_on;
};

class JobTable {
 public:
  explicit JobTable(uint32_t max_attempts = 3) : max_attempts_(max_attempts) {}

  // A new entry at `attempt` (at least 1); nullptr if the id is already live.
  JobEntry* add(const JobSubmit& spec, ModelTarget target, uint32_t attempt = 1);
  // Forgets the job (it ended: done, failed, cancelled). False if it was not live.
  bool end(const JobId& job);
  JobEntry* find(const JobId& job);
  const JobEntry* find(const JobId& job) const;
  bool contains(const JobId& job) const { return jobs_.count(job) != 0; }

  // Records the device of the current attempt (dispatch, adoption); false if unknown.
  bool set_dispatched(const JobId& job, const DeviceKey& device);
  // Gives up on the current attempt: clears the device and returns the next attempt
  // number, or nullopt if that would pass max_attempts (the job is then dead; call end).
  // counted = false: the attempt was handed back, not failed (it still moves the fence but
  // does not use up one of max_attempts).
  std::optional<uint32_t> next_attempt(const JobId& job, bool counted = true);

  // A recovered job waits on `device` for its worker to list it in READY.
  void set_recovering(JobEntry& entry, const DeviceKey& device);
  size_t recovering() const { return n_recovering_; }
  // Every job still waiting for adoption, taken off that wait (oldest first).
  std::vector<HeldJob> take_recovering();

  // True if a message about (job, attempt) is current: the job is live, dispatched, and
  // attempt is its current attempt. Anything else is stale and must be dropped.
  bool is_current(const JobId& job, uint32_t attempt) const;
  // True if the message also comes from the device the attempt was sent to.
  bool is_current(const JobId& job, uint32_t attempt, const DeviceKey& from) const;

  size_t size() const { return jobs_.size(); }
  uint32_t max_attempts() const { return max_attempts_; }

 private:
  void clear_recovering(JobEntry& entry);

  uint32_t max_attempts_;
  uint64_t next_seq_ = 0;
  size_t n_recovering_ = 0;
  std::unordered_map<JobId, JobEntry> jobs_;
};

}  // namespace rs::broker
