// `ringserve up`: starts a private redis-server (AOF on), a broker and N workers (making a
// small synthetic model first when neither --model nor --serve is given), writes
// ./var/redis, waits until the broker lists every device, writes ./var/endpoint, and
// serves until Ctrl-C, restarting children that die, then stops them all in order.
// --serve NAME...: workers in registry mode. Called once from main() on the main thread.
#pragma once

#include <CLI/CLI.hpp>

namespace rs::cli {

// Registers the `up` subcommand and its callback. A failure ends the callback with
// CLI::RuntimeError(exit code) after the pool was torn down.
void add_up_command(CLI::App& app);

}  // namespace rs::cli
