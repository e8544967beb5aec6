// Shared subcommand options, connecting, and error reporting.
#include "options.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "rs/schemas/errors.h"

namespace rs::cli {

void add_common_options(CLI::App& sub, CommonOptions& options) {
  sub.add_option("--broker", options.broker,
                 "broker client endpoint (default: $RINGSERVE_BROKER, else ./var/endpoint)");
  sub.add_flag("--json", options.json, "print one JSON object per line");
  sub.add_option("--timeout-ms", options.timeout_ms, "request timeout in milliseconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--curve-key", options.curve_key,
                 "CURVE: this client's key file (default: RINGSERVE_CURVE_KEY, ./var/keys/cli.key)");
  sub.add_option("--broker-key", options.broker_key,
                 "CURVE: the broker's public key file (default: RINGSERVE_BROKER_KEY, ./var/keys/broker.pub)");
  sub.add_option("--liveness-ms", options.liveness_ms,
                 "while waiting for a job, fail when the broker answers no ping for this long "
                 "(0: wait regardless)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

std::unique_ptr<client::Client> connect_or_report(const CommonOptions& options) {
  auto endpoint = client::resolve_endpoint(options.broker);
  if (!endpoint.ok()) {
    report_error(options, endpoint.status());
    return nullptr;
  }
  auto curve = client::resolve_curve(options.curve_key, options.broker_key);
  if (!curve.ok()) {
    report_error(options, curve.status());
    return nullptr;
  }
  client::ClientOptions co;
  co.endpoint = *endpoint;
  co.curve = *curve;
  co.request_timeout_ms = options.timeout_ms;
  co.liveness_ms = options.liveness_ms;
  auto c = client::Client::connect(co);
  if (!c.ok()) {
    report_error(options, c.status());
    return nullptr;
  }
  return std::move(c).value();
}

namespace {

int print_error(const CommonOptions& options, const std::string& code_name, const std::string& line,
                const std::string& message) {
  std::fprintf(stderr, "error: %s\n", line.c_str());
  if (options.json) {
    nlohmann::json j{{"error", code_name}, {"message", message}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
  }
  return kExitError;
}

}  // namespace

int report_error(const CommonOptions& options, const std::string& code_name,
                 const std::string& message) {
  return print_error(options, code_name, code_name + ": " + message, message);
}

int report_error(const CommonOptions& options, const Status& status) {
  schemas::ErrorCode code = schemas::wire_error_of(status);
  std::string name(schemas::error_code_name(code));
  std::string message = schemas::wire_error_message(status);
  // Errors of the connection itself read better without the code name in front.
  bool plain = message.rfind("broker unreachable", 0) == 0 || message.rfind("broker at ", 0) == 0 ||
               message.rfind("no broker endpoint", 0) == 0;
  return print_error(options, name, plain ? message : name + ": " + message, message);
}

int& exit_code() {
  static int code = kExitOk;
  return code;
}

}  // namespace rs::cli
