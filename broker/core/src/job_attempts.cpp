#include "rs/broker/job_attempts.h"

#include <algorithm>

namespace rs::broker {

bool JobAttempts::begin(const JobId& job) {
  return jobs_.emplace(job, Entry{1, std::nullopt, next_seq_++}).second;
}

bool JobAttempts::restore(const JobId& job, uint32_t attempt) {
  return jobs_.emplace(job, Entry{std::max<uint32_t>(1, attempt), std::nullopt, next_seq_++}).second;
}

bool JobAttempts::set_dispatched(const JobId& job, const DeviceKey& device) {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return false;
  it->second.device = device;
  return true;
}

std::optional<uint32_t> JobAttempts::next_attempt(const JobId& job, bool counted) {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return std::nullopt;
  Entry& e = it->second;
  e.device.reset();
  if (!counted) ++e.uncounted;
  if (e.attempt - e.uncounted >= max_attempts_) return std::nullopt;
  return ++e.attempt;
}

bool JobAttempts::end(const JobId& job) { return jobs_.erase(job) != 0; }

bool JobAttempts::is_current(const JobId& job, uint32_t attempt) const {
  auto it = jobs_.find(job);
  return it != jobs_.end() && it->second.device.has_value() && it->second.attempt == attempt;
}

bool JobAttempts::is_current(const JobId& job, uint32_t attempt, const DeviceKey& from) const {
  auto it = jobs_.find(job);
  return is_current(job, attempt) && *it->second.device == from;
}

const JobAttempts::Entry* JobAttempts::find(const JobId& job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? nullptr : &it->second;
}

}  // namespace rs::broker
