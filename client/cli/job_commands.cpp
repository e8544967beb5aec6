// `ringserve status JOB` and `ringserve cancel JOB`.
#include <limits>
#include <memory>
#include <string>

#include "commands.h"
#include "json_format.h"
#include "options.h"

namespace rs::cli {

namespace {

struct JobArgs {
  CommonOptions common;
  std::string job_id;
};

int run_status(const JobArgs& args) {
  auto c = connect_or_report(args.common);
  if (!c) return kExitError;
  auto record = c->status(args.job_id);
  if (!record.ok()) return report_error(args.common, record.status());
  print_record(*record, args.common.json);
  return kExitOk;
}

// Cancels, then waits for the final record: a queued job is CANCELLED at the ack; a
// running one ends when its worker confirms, seen through a subscription that skips the
// tokens (from the highest seq). A job that finished meanwhile replays its DONE.
int run_cancel(const JobArgs& args) {
  auto c = connect_or_report(args.common);
  if (!c) return kExitError;
  auto ack = c->cancel(args.job_id);
  if (!ack.ok()) return report_error(args.common, ack.status());
  if (schemas::is_terminal(ack->state)) {
    print_record(*ack, args.common.json);
    return kExitOk;
  }
  if (Status s = c->subscribe(args.job_id, std::numeric_limits<uint64_t>::max()); !s.ok()) {
    return report_error(args.common, s);
  }
  auto record = c->wait(args.job_id, nullptr, args.common.timeout_ms);
  if (!record.ok()) return report_error(args.common, record.status());
  print_record(*record, args.common.json);
  return kExitOk;
}

CLI::App* add_job_subcommand(CLI::App& app, const char* name, const char* help,
                             const std::shared_ptr<JobArgs>& args) {
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("job", args->job_id, "job id")->required();
  add_common_options(*sub, args->common);
  return sub;
}

}  // namespace

void add_status_command(CLI::App& app) {
  auto args = std::make_shared<JobArgs>();
  add_job_subcommand(app, "status", "print a job's record", args)
      ->callback([args] { exit_code() = run_status(*args); });
}

void add_cancel_command(CLI::App& app) {
  auto args = std::make_shared<JobArgs>();
  add_job_subcommand(app, "cancel", "cancel a job and print its final record", args)
      ->callback([args] { exit_code() = run_cancel(*args); });
}

}  // namespace rs::cli
