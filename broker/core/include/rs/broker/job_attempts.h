// JobAttempts: the current attempt number of every live job, the fence that tells a
// current message from a stale one (a worker that was given up on may still speak).
// Owns only (job -> attempt, device); not thread-safe: the broker loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "rs/broker/types.h"

namespace rs::broker {

class JobAttempts {
 public:
  struct Entry {
    uint32_t attempt = 1;
    std::optional<DeviceKey> device;  // set while dispatched
    uint64_t seq = 0;                 // submission order, for fair requeueing
    uint32_t uncounted = 0;           // attempts handed back (a draining worker): not failures
  };

  explicit JobAttempts(uint32_t max_attempts = 3) : max_attempts_(max_attempts) {}

  // A new job at attempt 1; false if the id is already live.
  bool begin(const JobId& job);
  // A job recovered after a broker restart at its stored attempt (>= 1); false if live.
  bool restore(const JobId& job, uint32_t attempt);
  // Records the device of the current attempt (dispatch); false if unknown.
  bool set_dispatched(const JobId& job, const DeviceKey& device);
  // Gives up on the current attempt: clears the device and returns the next attempt
  // number, or nullopt if that would pass max_attempts (the job is then dead; call end).
  // counted = false: the attempt was handed back, not failed (it still moves the fence but
  // does not use up one of max_attempts).
  std::optional<uint32_t> next_attempt(const JobId& job, bool counted = true);
  // Forgets the job (it ended: done, failed, cancelled).
  bool end(const JobId& job);

  // True if a message about (job, attempt) is current: the job is live, dispatched, and
  // attempt is its current attempt. Anything else is stale and must be dropped.
  bool is_current(const JobId& job, uint32_t attempt) const;
  // True if the message also comes from the device the attempt was sent to.
  bool is_current(const JobId& job, uint32_t attempt, const DeviceKey& from) const;

  const Entry* find(const JobId& job) const;
  size_t size() const { return jobs_.size(); }
  uint32_t max_attempts() const { return max_attempts_; }

 private:
  uint32_t max_attempts_;
  uint64_t next_seq_ = 0;
  std::unordered_map<JobId, Entry> jobs_;
};

}  // namespace rs::broker
