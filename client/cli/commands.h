// The `ringserve` subcommands other than `up` (models: models_command.h): each add_* registers one subcommand, its
// options and its callback (which leaves its exit code in exit_code()). Main thread only.
#pragma once

#include <CLI/CLI.hpp>

namespace rs::cli {

void add_submit_command(CLI::App& app);
void add_stream_command(CLI::App& app);
void add_status_command(CLI::App& app);
void add_cancel_command(CLI::App& app);
void add_workers_command(CLI::App& app);
void add_models_command(CLI::App& app);
void add_batch_command(CLI::App& app);  // batch run|status (batch_command.h)
void add_jobs_command(CLI::App& app);   // jobs dead|retry
void add_keys_command(CLI::App& app);   // keys add|list|revoke (keys_command.cpp)
void add_keys_zmq_command(CLI::App& keys);  // keys zmq new|revoke|list (keys_zmq_command.cpp)
void add_top_command(CLI::App& app);    // top: a live view from the metrics endpoints (top_command.cpp)
void add_redis_acl_command(CLI::App& app);  // redis-acl: ACL file + passwords (redis_acl_command.cpp)

}  // namespace rs::cli
