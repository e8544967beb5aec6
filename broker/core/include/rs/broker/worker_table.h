// WorkerTable: the registry of live workers (from READY), their heartbeat liveness on the
// injected clock, and each device's slots and in-flight job set. Owns that bookkeeping
// only; routing rings live in Router. Not thread-safe: the broker loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "rs/broker/router.h"
#include "rs/broker/types.h"
#include "rs/core/clock.h"

namespace rs::broker {

struct WorkerTableOptions {
  int64_t heartbeat_interval_ms = 1000;
  int missed_beats = 3;  // silent for missed_beats x interval: expired
};

struct DeviceState {
  uint32_t slots = 0;
  std::vector<ModelName> models;  // model keys taking new jobs (READY, then heartbeats)
  std::set<JobId> jobs;  // in flight on this device
};

struct WorkerEntry {
  WorkerId id;
  int64_t last_seen_ns = 0;
  std::map<uint32_t, DeviceState> devices;  // by device index
};

class WorkerTable final : public DeviceLoadView {
 public:
  explicit WorkerTable(const rs::Clock& clock, WorkerTableOptions options = {});

  // READY: registers the worker, or replaces an earlier registration of the same id (the
  // worker restarted): then returns the jobs the old registration held, to requeue.
  std::vector<HeldJob> register_worker(const WorkerReady& ready);
  // Any message from the worker proves it alive. False if the worker is unknown.
  bool touch(const WorkerId& id);
  // DISCONNECT or expiry: forgets the worker and returns the jobs its devices held.
  std::vector<HeldJob> remove_worker(const WorkerId& id);

  // Workers silent for longer than missed_beats x interval, as of the clock's now.
  std::vector<WorkerId> expired_workers() const;
  // When the next worker would expire if it stays silent (for the poll timeout).
  std::optional<int64_t> next_expiry_ns() const;

  // In-flight bookkeeping. assign fails (false) for an unknown device or a job already
  // on it; release fails if the job is not on the device.
  bool assign(const DeviceKey& device, const JobId& job);
  bool release(const DeviceKey& device, const JobId& job);
  // The worker's new slot count for a device (credits changed); false if unknown.
  bool set_slots(const DeviceKey& device, uint32_t slots);
  // The device's model keys taking new jobs now (a heartbeat's list); false if unknown.
  bool set_models(const DeviceKey& device, std::vector<ModelName> models);

  uint32_t in_flight(const DeviceKey& device) const override;
  uint32_t free_slots(const DeviceKey& device) const override;

  const WorkerEntry* find(const WorkerId& id) const;
  const DeviceState* device(const DeviceKey& device) const;
  bool contains(const WorkerId& id) const { return workers_.count(id) != 0; }
  size_t size() const { return workers_.size(); }
  const std::map<WorkerId, WorkerEntry>& workers() const { return workers_; }

 private:
  DeviceState* mutable_device(const DeviceKey& device);
  int64_t expiry_ns() const;

  const rs::Clock& clock_;
  WorkerTableOptions options_;
  std::map<WorkerId, WorkerEntry> workers_;
};

}  // namespace rs::broker
