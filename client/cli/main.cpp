// ringserve: the command line of the pool. `up` starts a local pool (up_command.*); the
// other subcommands talk to its broker through rs_client (commands.h).
#include <CLI/CLI.hpp>

#include "commands.h"
#include "options.h"

#if __has_include("up_command.h")
#include "up_command.h"
#define RS_HAVE_UP_COMMAND 1
#endif

int main(int argc, char** argv) {
  CLI::App app{"ringserve: a ZeroMQ LLM inference pool"};
  app.require_subcommand(1);
#ifdef RS_HAVE_UP_COMMAND
  rs::cli::add_up_command(app);
#endif
  rs::cli::add_submit_command(app);
  rs::cli::add_stream_command(app);
  rs::cli::add_status_command(app);
  rs::cli::add_cancel_command(app);
  rs::cli::add_workers_command(app);
  rs::cli::add_models_command(app);
  rs::cli::add_batch_command(app);
  rs::cli::add_jobs_command(app);
  rs::cli::add_keys_command(app);
  rs::cli::add_redis_acl_command(app);
  rs::cli::add_top_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {  // a subcommand's own exit code
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return rs::cli::kExitUsage;
  }
  return rs::cli::exit_code();
}
