#include "rs/broker/job_table.h"

#include <algorithm>

namespace rs::broker {

JobEntry* JobTable::insert(const JobId& job, JobStream stream) {
  auto [it, added] = jobs_.try_emplace(job);
  if (!added) return nullptr;
  it->second.stream = std::move(stream);
  return &it->second;
}

JobEntry* JobTable::find_any(const JobId& job) {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? nullptr : &it->second;
}

const JobEntry* JobTable::find_any(const JobId& job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? nullptr : &it->second;
}

bool JobTable::erase(const JobId& job) {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return false;
  if (it->second.admitted) {
    clear_recovering(it->second);
    --n_admitted_;
  }
  jobs_.erase(it);
  return true;
}

JobEntry* JobTable::add(const JobSubmit& spec, ModelTarget target, uint32_t attempt) {
  JobEntry& e = jobs_[spec.id];
  if (e.admitted) return nullptr;
  e.admitted = true;
  ++n_admitted_;
  e.spec = spec;
  e.target = std::move(target);
  e.attempt = std::max<uint32_t>(1, attempt);
  e.device.reset();
  e.uncounted = 0;
  e.dispatched_key.clear();
  e.cancel_requested = false;
  e.seq = next_seq_++;
  return &e;
}

bool JobTable::end(const JobId& job) {
  auto it = jobs_.find(job);
  if (it == jobs_.end() || !it->second.admitted) return false;
  if (!owned_) return erase(job);
  JobEntry& e = it->second;
  clear_recovering(e);
  e.admitted = false;
  e.device.reset();
  --n_admitted_;
  return true;
}

JobEntry* JobTable::find(const JobId& job) {
  auto it = jobs_.find(job);
  return it == jobs_.end() || !it->second.admitted ? nullptr : &it->second;
}

const JobEntry* JobTable::find(const JobId& job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() || !it->second.admitted ? nullptr : &it->second;
}

bool JobTable::set_dispatched(const JobId& job, const DeviceKey& device) {
  JobEntry* e = find(job);
  if (e == nullptr) return false;
  clear_recovering(*e);
  e->device = device;
  return true;
}

std::optional<uint32_t> JobTable::next_attempt(const JobId& job, bool counted) {
  JobEntry* e = find(job);
  if (e == nullptr) return std::nullopt;
  e->device.reset();
  e->dispatched_key.clear();
  clear_recovering(*e);
  if (!counted) ++e->uncounted;
  if (e->attempt - e->uncounted >= max_attempts_) return std::nullopt;
  return ++e->attempt;
}

void JobTable::set_recovering(JobEntry& entry, const DeviceKey& device) {
  if (!entry.recovering_on) ++n_recovering_;
  entry.recovering_on = device;
}

void JobTable::clear_recovering(JobEntry& entry) {
  if (!entry.recovering_on) return;
  entry.recovering_on.reset();
  --n_recovering_;
}

std::vector<HeldJob> JobTable::take_recovering() {
  std::vector<std::pair<uint64_t, HeldJob>> found;
  found.reserve(n_recovering_);
  for (auto& [id, e] : jobs_) {
    if (!e.recovering_on) continue;
    found.emplace_back(e.seq, HeldJob{id, *e.recovering_on});
    clear_recovering(e);
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<HeldJob> held;
  held.reserve(found.size());
  for (auto& f : found) held.push_back(std::move(f.second));
  return held;
}

bool JobTable::is_current(const JobId& job, uint32_t attempt) const {
  const JobEntry* e = find(job);
  return e != nullptr && e->device.has_value() && e->attempt == attempt;
}

bool JobTable::is_current(const JobId& job, uint32_t attempt, const DeviceKey& from) const {
  const JobEntry* e = find(job);
  return e != nullptr && e->device.has_value() && e->attempt == attempt && *e->device == from;
}

}  // namespace rs::broker
