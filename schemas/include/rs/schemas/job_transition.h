// JobTransition: one change of a job's state as the job store records it (the broker
// stages these as typed writes; rs_store turns them into Redis commands). Plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "rs/schemas/messages.h"

namespace rs::schemas {

// Allowed: QUEUED->DISPATCHED (sets attempt, worker, device, dispatched_ms);
// DISPATCHED->RUNNING (started_ms); DISPATCHED|RUNNING->QUEUED (requeue after a worker
// loss); DISPATCHED|RUNNING->SUCCEEDED; any non-terminal->FAILED|CANCELLED (finished_ms,
// usage, error, finish_reason).
struct JobTransition {
  JobState to = JobState::kQueued;
  // Fencing: when non-zero, the stored attempt must equal it (for DISPATCHED: the attempt
  // to record, not checked). A stale attempt is refused with kCancelled "stale attempt".
  uint32_t attempt = 0;
  std::string worker;                 // DISPATCHED
  int32_t device = -1;                // DISPATCHED
  uint64_t at_ms = 0;                 // the timestamp for this state (Unix ms)
  std::optional<Usage> usage;         // terminal states
  ErrorCode error_code = ErrorCode::kOk;
  std::string error;
  std::string finish_reason;  // terminal states ("stop", "length", "cancelled", "error")
};

}  // namespace rs::schemas
