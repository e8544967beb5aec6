// RegistryAccess, the broker's view of loaded versions, and error names for models commands.
#include "models_access.h"

#include <algorithm>
#include <charconv>

#include "redis_credentials.h"
#include "rs/client/client.h"
#include "rs/schemas/errors.h"
#include "rs/schemas/model_ref.h"

namespace rs::cli {

namespace {

constexpr int kBrokerAskMaxMs = 1000;

}  // namespace

void add_models_options(CLI::App& sub, ModelsOptions& options) {
  sub.add_option("--redis", options.redis,
                 "Redis HOST:PORT or redis://USER:PASSWORD@HOST:PORT (default: $RINGSERVE_REDIS, else "
                 "./var/redis; a URL's password shows in ps)");
  sub.add_option("--redis-user", options.redis_user,
                 "Redis ACL user (default: $RINGSERVE_REDIS_USER, else `cli` of ./var/keys)");
  sub.add_option("--redis-password-file", options.redis_password_file,
                 "file whose first line is the Redis password (default: $RINGSERVE_REDIS_PASSWORD_FILE, "
                 "else ./var/keys/redis-cli.password)");
  add_common_options(sub, options.common);
}

RegistryAccess::RegistryAccess(std::string address, store::RedisOptions redis_options)
    : address_(std::move(address)), conn_(std::move(redis_options)), registry_(conn_) {}

Result<std::unique_ptr<RegistryAccess>> RegistryAccess::open(const ModelsOptions& options) {
  RS_ASSIGN_OR_RETURN(store::RedisOptions ro,
                      resolve_cli_redis({.address = options.redis,
                                         .user = options.redis_user,
                                         .password_file = options.redis_password_file}));
  const std::string address = ro.host + ":" + std::to_string(ro.port);
  ro.connect_timeout_ms = std::min(options.common.timeout_ms, 2000);
  ro.command_timeout_ms = options.common.timeout_ms;
  std::unique_ptr<RegistryAccess> access(new RegistryAccess(address, ro));
  if (Status s = access->conn_.connect(); !s.ok()) {
    if (s.code() == StatusCode::kPermissionDenied) return s;
    return Status(StatusCode::kUnavailable, "redis unreachable: " + s.message());
  }
  return access;
}

LoadedOn loaded_on_of(const std::vector<schemas::DeviceStatus>& devices) {
  LoadedOn out;
  for (const auto& d : devices) {
    for (const auto& key : d.models) {
      auto ref = schemas::parse_model_ref(key);
      if (!ref || ref->version == 0) continue;
      auto& where = out[schemas::model_key(*ref)];
      std::string device = d.worker + "/" + std::to_string(d.device);
      if (std::find(where.begin(), where.end(), device) == where.end()) where.push_back(device);
    }
  }
  return out;
}

Result<LoadedOn> ask_loaded_on(const CommonOptions& options) {
  RS_ASSIGN_OR_RETURN(std::string endpoint, client::resolve_endpoint(options.broker));
  RS_ASSIGN_OR_RETURN(client::CurveCredentials curve,
                      client::resolve_curve(options.curve_key, options.broker_key));
  client::ClientOptions co;
  co.endpoint = endpoint;
  co.curve = curve;
  co.request_timeout_ms = std::min(options.timeout_ms, kBrokerAskMaxMs);
  RS_ASSIGN_OR_RETURN(auto c, client::Client::connect(co));
  RS_ASSIGN_OR_RETURN(auto devices, c->workers());
  return loaded_on_of(devices);
}

std::string status_code_name(const Status& status) {
  const std::string& m = status.message();
  if (auto colon = m.find(": "); colon != std::string::npos) {
    if (schemas::parse_error_code(std::string_view(m).substr(0, colon))) return m.substr(0, colon);
  }
  switch (status.code()) {
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kInvalidArgument:
    case StatusCode::kCorrupt:
    case StatusCode::kUnsupported: return "invalid_argument";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kIoError: return "io_error";
    case StatusCode::kPermissionDenied: return "permission_denied";
    default: return "internal";
  }
}

int report_status(const CommonOptions& options, const Status& status) {
  return report_error(options, status_code_name(status), schemas::wire_error_message(status));
}

}  // namespace rs::cli
