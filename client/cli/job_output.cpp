// follow_job: stream a job's tokens and print its final record.
#include "job_output.h"

#include <cstdio>

#include "json_format.h"

namespace rs::cli {

int exit_for_state(schemas::JobState state) {
  return state == schemas::JobState::kSucceeded ? kExitOk : kExitError;
}

int follow_job(client::Client& client, const CommonOptions& options, const std::string& job_id,
               bool print_tokens, int timeout_ms) {
  bool wrote_text = false;
  client::TokenCallback on_token;
  if (print_tokens) {
    on_token = [&](const schemas::TokenEntry& e) {
      if (options.json) {
        std::printf("%s\n", json_line(token_json(e)).c_str());
      } else {
        std::fwrite(e.text.data(), 1, e.text.size(), stdout);
        wrote_text = true;
      }
      std::fflush(stdout);
    };
  }
  auto record = client.wait(job_id, on_token, timeout_ms);
  if (wrote_text) std::fputs("\n", stdout);
  if (!record.ok()) return report_error(options, record.status());
  print_record(*record, options.json);
  return exit_for_state(record->state);
}

}  // namespace rs::cli
