// Options every `ringserve` subcommand takes (--broker, --json, --timeout-ms, --liveness-ms), connecting
// to the broker with them, and printing errors (stderr line, plus a JSON line on stdout
// with --json). Used from main's thread only.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "rs/client/client.h"
#include "rs/core/status.h"

namespace rs::cli {

// Exit codes: 0 ok; 1 an error or a job that ended FAILED / CANCELLED; 2 a usage error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

struct CommonOptions {
  std::string broker;       // --broker; else RINGSERVE_BROKER, else ./var/endpoint
  bool json = false;        // --json: one JSON object per line on stdout
  int timeout_ms = 5000;    // --timeout-ms: per request
  int liveness_ms = 5000;   // --liveness-ms: a wait ends when the broker is silent this long
  std::string curve_key;    // --curve-key; else RINGSERVE_CURVE_KEY, else ./var/keys/cli.key
  std::string broker_key;   // --broker-key; else RINGSERVE_BROKER_KEY, else ./var/keys/broker.pub
};

// Adds --broker, --json, --timeout-ms and --liveness-ms to a subcommand.
void add_common_options(CLI::App& sub, CommonOptions& options);

// Resolves the endpoint and connects; on error prints it and returns nullptr.
std::unique_ptr<client::Client> connect_or_report(const CommonOptions& options);

// Prints `error: ...` on stderr (and {"error","message"} on stdout with --json); returns 1.
int report_error(const CommonOptions& options, const Status& status);
// The same for an error of the command line itself (code name given).
int report_error(const CommonOptions& options, const std::string& code_name,
                 const std::string& message);

// Where a subcommand's callback leaves its exit code for main.
int& exit_code();

}  // namespace rs::cli
