// What a `ringserve up` that was killed (-9) or crashed leaves behind: VAR/pids lists the
// children it ran (pid, start time, name). The next `up` on that var dir, once it holds the
// lock, stops those still running (SIGTERM, then SIGKILL after the grace period) before it
// starts its own, so no old redis-server still holds the port or the AOF. The children also
// get SIGTERM when `up` dies (PR_SET_PDEATHSIG, process.cpp); this file covers the ones
// still shutting down. Free functions; the `up` command's thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rs/core/status.h"

namespace rs::cli {

struct RecordedChild {
  pid_t pid = 0;
  uint64_t start_ticks = 0;  // field 22 of /proc/PID/stat: tells a reused pid apart
  std::string name;          // "redis", "broker", "worker-1", ...
};

// The start time of a running process (clock ticks since boot); nullopt when it is gone or
// a zombie.
std::optional<uint64_t> process_start_ticks(pid_t pid);

// Writes the list to `path` (through a temporary file and a rename).
Status write_pid_file(const std::string& path, const std::vector<RecordedChild>& children);

// Stops every process listed in `path` that still runs with the recorded start time, then
// removes the file. Returns one "name (pid N)" per process it had to stop.
std::vector<std::string> stop_leftovers(const std::string& path, int grace_ms);

// The pid written in a lock file by the `up` holding it (0 when unreadable).
pid_t read_lock_owner(int lock_fd);
// Replaces the lock file's contents with this process's pid.
void write_lock_owner(int lock_fd);

}  // namespace rs::cli
