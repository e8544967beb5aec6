#include "rs/broker/worker_table.h"

#include <algorithm>
#include <utility>

namespace rs::broker {

WorkerTable::WorkerTable(const rs::Clock& clock, WorkerTableOptions options)
    : clock_(clock), options_(options) {
  options_.missed_beats = std::max(1, options_.missed_beats);
  options_.heartbeat_interval_ms = std::max<int64_t>(1, options_.heartbeat_interval_ms);
}

int64_t WorkerTable::expiry_ns() const {
  return options_.heartbeat_interval_ms * 1'000'000 * options_.missed_beats;
}

std::vector<HeldJob> WorkerTable::register_worker(const WorkerReady& ready) {
  std::vector<HeldJob> held = remove_worker(ready.id);
  WorkerEntry entry;
  entry.id = ready.id;
  entry.last_seen_ns = clock_.now_ns();
  for (const DeviceSpec& spec : ready.devices) {
    DeviceState& state = entry.devices[spec.index];
    state.slots = spec.slots;
    state.models = spec.models;
  }
  workers_.emplace(ready.id, std::move(entry));
  return held;
}

bool WorkerTable::touch(const WorkerId& id) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return false;
  it->second.last_seen_ns = clock_.now_ns();
  return true;
}

std::vector<HeldJob> WorkerTable::remove_worker(const WorkerId& id) {
  std::vector<HeldJob> held;
  auto it = workers_.find(id);
  if (it == workers_.end()) return held;
  for (const auto& [index, state] : it->second.devices) {
    for (const JobId& job : state.jobs) held.push_back({job, DeviceKey{id, index}});
  }
  workers_.erase(it);
  return held;
}

std::vector<WorkerId> WorkerTable::expired_workers() const {
  std::vector<WorkerId> out;
  int64_t now = clock_.now_ns();
  for (const auto& [id, entry] : workers_) {
    if (now - entry.last_seen_ns > expiry_ns()) out.push_back(id);
  }
  return out;
}

std::optional<int64_t> WorkerTable::next_expiry_ns() const {
  std::optional<int64_t> earliest;
  for (const auto& [id, entry] : workers_) {
    int64_t at = entry.last_seen_ns + expiry_ns() + 1;
    if (!earliest || at < *earliest) earliest = at;
  }
  return earliest;
}

DeviceState* WorkerTable::mutable_device(const DeviceKey& device) {
  auto it = workers_.find(device.worker);
  if (it == workers_.end()) return nullptr;
  auto d = it->second.devices.find(device.index);
  return d == it->second.devices.end() ? nullptr : &d->second;
}

const DeviceState* WorkerTable::device(const DeviceKey& device) const {
  auto it = workers_.find(device.worker);
  if (it == workers_.end()) return nullptr;
  auto d = it->second.devices.find(device.index);
  return d == it->second.devices.end() ? nullptr : &d->second;
}

const WorkerEntry* WorkerTable::find(const WorkerId& id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

bool WorkerTable::assign(const DeviceKey& device, const JobId& job) {
  DeviceState* d = mutable_device(device);
  return d != nullptr && d->jobs.insert(job).second;
}

bool WorkerTable::release(const DeviceKey& device, const JobId& job) {
  DeviceState* d = mutable_device(device);
  return d != nullptr && d->jobs.erase(job) != 0;
}

bool WorkerTable::set_slots(const DeviceKey& device, uint32_t slots) {
  DeviceState* d = mutable_device(device);
  if (d == nullptr) return false;
  d->slots = slots;
  return true;
}

bool WorkerTable::set_models(const DeviceKey& device, std::vector<ModelName> models) {
  DeviceState* d = mutable_device(device);
  if (d == nullptr) return false;
  d->models = std::move(models);
  return true;
}

uint32_t WorkerTable::in_flight(const DeviceKey& device) const {
  const DeviceState* d = this->device(device);
  return d == nullptr ? 0 : static_cast<uint32_t>(d->jobs.size());
}

uint32_t WorkerTable::free_slots(const DeviceKey& device) const {
  const DeviceState* d = this->device(device);
  if (d == nullptr || d->jobs.size() >= d->slots) return 0;
  return d->slots - static_cast<uint32_t>(d->jobs.size());
}

}  // namespace rs::broker
