// `ringserve batch run|status` and `ringserve jobs dead|retry`: the arguments of each
// subcommand and the function that runs it (batch_run.cpp, batch_status.cpp,
// jobs_dead.cpp); add_batch_command / add_jobs_command (commands.h) register them. They
// talk to Redis only (found as `models` finds it), never to the broker. Main thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "batch_input.h"
#include "models_access.h"

namespace rs::cli {

struct BatchRunArgs {
  ModelsOptions options;  // --redis, --json, --timeout-ms (--broker is accepted, unused)
  std::string input;
  std::string output;
  std::string batch;      // --batch; else OUTPUT.batch; else fresh
  BatchDefaults defaults;
  size_t concurrency = 64;
  int64_t progress_ms = 5000;  // plain progress lines (stderr not a terminal)
  int64_t block_ms = 200;      // one wait for results (and for SIGINT to be seen)
};

struct BatchStatusArgs {
  ModelsOptions options;
  std::string batch;
};

struct JobsDeadArgs {
  ModelsOptions options;
};

struct JobsRetryArgs {
  ModelsOptions options;
  std::string job_id;
};

// Exit code of `batch run` after SIGINT (128 + 2).
inline constexpr int kExitInterrupted = 130;

int run_batch_run(const BatchRunArgs& args);
int run_batch_status(const BatchStatusArgs& args);
int run_jobs_dead(const JobsDeadArgs& args);
int run_jobs_retry(const JobsRetryArgs& args);

}  // namespace rs::cli
