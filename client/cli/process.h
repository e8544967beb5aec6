// ChildProcess: one program started with fork/execv, its stdout and stderr written to a
// log file, in its own process group (so a terminal's Ctrl-C reaches only the parent) and
// told to die with its parent (PR_SET_PDEATHSIG). The parent thread that spawned it owns
// it: alive(), terminate() and kill() reap it with waitpid. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "rs/core/result.h"
#include "rs/core/status.h"

namespace rs::cli {

struct ProcessOptions {
  std::string name;               // for messages: "broker", "worker-1"
  std::string program;            // path of the executable
  std::vector<std::string> args;  // argv[1..]
  std::string log_path;           // stdout + stderr, truncated at start; "" -> /dev/null
  bool append_log = false;        // true: append to log_path instead (a restarted child)
};

class ChildProcess {
 public:
  // Forks and execs; an exec failure (missing program, no permission) is reported here.
  static Result<std::unique_ptr<ChildProcess>> spawn(ProcessOptions options);
  ~ChildProcess();  // kills (SIGKILL) and reaps a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  const std::string& name() const { return options_.name; }
  const std::string& log_path() const { return options_.log_path; }
  const ProcessOptions& options() const { return options_; }
  pid_t pid() const { return pid_; }

  // True while the child runs; reaps it (without blocking) once it has exited.
  bool alive();
  // "exited with status 1", "killed by signal 9", "running".
  std::string exit_description() const;
  // Exit status when it exited normally, else -1.
  int exit_code() const;

  // SIGTERM, then waits up to grace_ms for it to exit, then SIGKILL. Returns ok when the
  // child exited within the grace period, an error naming it when it had to be killed.
  Status terminate(int grace_ms);
  // Waits up to grace_ms for the child to exit (after a signal sent earlier), then SIGKILL.
  Status wait_or_kill(int grace_ms);
  // SIGKILL and reap.
  void kill();
  // Sends a signal without waiting (no-op once reaped).
  void signal(int sig);

 private:
  explicit ChildProcess(ProcessOptions options) : options_(std::move(options)) {}
  void record_status(int wait_status);

  ProcessOptions options_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// The last `max_lines` lines of a text file ("" when it cannot be read).
std::string tail_file(const std::string& path, int max_lines);

}  // namespace rs::cli
