// `ringserve stream JOB [--from SEQ]`: subscribe to a job and stream it to its end.
#include <memory>
#include <string>

#include "commands.h"
#include "job_output.h"
#include "options.h"

namespace rs::cli {

namespace {

struct StreamArgs {
  CommonOptions common;
  std::string job_id;
  uint64_t from_seq = 0;
  int job_timeout_ms = -1;
};

int run_stream(const StreamArgs& args) {
  auto c = connect_or_report(args.common);
  if (!c) return kExitError;
  if (Status s = c->subscribe(args.job_id, args.from_seq); !s.ok()) {
    return report_error(args.common, s);
  }
  return follow_job(*c, args.common, args.job_id, true, args.job_timeout_ms);
}

}  // namespace

void add_stream_command(CLI::App& app) {
  auto args = std::make_shared<StreamArgs>();
  CLI::App* sub = app.add_subcommand("stream", "stream a job's tokens (replayed, then live) and its record");
  sub->add_option("job", args->job_id, "job id")->required();
  sub->add_option("--from", args->from_seq, "first sequence number wanted")->capture_default_str();
  sub->add_option("--job-timeout-ms", args->job_timeout_ms, "give up after this long (-1: never)")
      ->capture_default_str();
  add_common_options(*sub, args->common);
  sub->callback([args] { exit_code() = run_stream(*args); });
}

}  // namespace rs::cli
