// Following a job to its end from the command line: tokens as they arrive (raw text, or
// one JSON line each), then the final record. Main thread only.
#pragma once

#include <string>

#include "options.h"
#include "rs/client/client.h"

namespace rs::cli {

// Waits for a job the client submitted or subscribed to (print_tokens: show each token;
// timeout_ms < 0: no limit). Returns 0 for SUCCEEDED, 1 for FAILED /
// CANCELLED or an error (reported).
int follow_job(client::Client& client, const CommonOptions& options, const std::string& job_id,
               bool print_tokens, int timeout_ms);

// 0 for a SUCCEEDED record, 1 otherwise.
int exit_for_state(schemas::JobState state);

}  // namespace rs::cli
