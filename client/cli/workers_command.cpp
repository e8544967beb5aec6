// `ringserve workers`: every device of every live worker.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "json_format.h"
#include "options.h"

namespace rs::cli {

namespace {

int run_workers(const CommonOptions& options) {
  auto c = connect_or_report(options);
  if (!c) return kExitError;
  auto devices = c->workers();
  if (!devices.ok()) return report_error(options, devices.status());
  if (options.json) {
    for (const auto& d : *devices) std::printf("%s\n", json_line(device_json(d)).c_str());
  } else if (devices->empty()) {
    std::printf("no workers\n");
  } else {
    std::fputs(devices_table(*devices).c_str(), stdout);
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

void add_workers_command(CLI::App& app) {
  auto options = std::make_shared<CommonOptions>();
  CLI::App* sub = app.add_subcommand("workers", "list the devices of the live workers");
  add_common_options(*sub, *options);
  sub->callback([options] { exit_code() = run_workers(*options); });
}

}  // namespace rs::cli
