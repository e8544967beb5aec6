// What the `ringserve models` subcommands talk to: the model registry in Redis (found from
// --redis, else RINGSERVE_REDIS, else ./var/redis) and, for where each version is loaded,
// the broker's WORKERS reply (found as the other subcommands find it). Main thread only.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "options.h"
#include "rs/core/result.h"
#include "rs/schemas/messages.h"
#include "rs/store/model_registry.h"
#include "rs/store/redis_connection.h"

namespace rs::cli {

struct ModelsOptions {
  CommonOptions common;
  std::string redis;  // --redis HOST:PORT or redis://USER:PASSWORD@HOST:PORT
  std::string redis_user;           // --redis-user
  std::string redis_password_file;  // --redis-password-file
};

// Adds --redis, --redis-user, --redis-password-file and the common options (--broker,
// --json, --timeout-ms).
void add_models_options(CLI::App& sub, ModelsOptions& options);


// One Redis connection and the registry over it.
class RegistryAccess {
 public:
  // Resolves the address and credentials (redis_credentials.h) and connects: unavailable
  // when Redis cannot be reached, permission_denied when it refuses the credentials.
  static Result<std::unique_ptr<RegistryAccess>> open(const ModelsOptions& options);
  store::ModelRegistry& registry() { return registry_; }
  store::RedisConnection& connection() { return conn_; }  // for the batch and jobs commands
  const std::string& address() const { return address_; }

 private:
  RegistryAccess(std::string address, store::RedisOptions redis_options);
  std::string address_;
  store::RedisConnection conn_;
  store::ModelRegistry registry_;
};

// Model key ("tiny@2") -> the devices holding it now ("w1/0"), registry versions only
// (unversioned keys are left out). Devices appear in the order given.
using LoadedOn = std::map<std::string, std::vector<std::string>>;
LoadedOn loaded_on_of(const std::vector<schemas::DeviceStatus>& devices);

// Asks the broker (WORKERS) with a short timeout: at most 1 s, or --timeout-ms if lower.
// An error when no endpoint is known or no broker answers.
Result<LoadedOn> ask_loaded_on(const CommonOptions& options);

// The wire-style name for a Status of the store, the file reader or the registry:
// not_found, invalid_argument, unavailable, io_error, permission_denied or internal.
std::string status_code_name(const Status& status);
// report_error() with status_code_name(): `error: <code>: <message>`; returns 1.
int report_status(const CommonOptions& options, const Status& status);

}  // namespace rs::cli
