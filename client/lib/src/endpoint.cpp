// resolve_endpoint: --broker flag, else RINGSERVE_BROKER, else ./var/endpoint; and
// resolve_redis: --redis flag, else RINGSERVE_REDIS, else ./var/redis.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "rs/client/client.h"
#include "rs/schemas/errors.h"
#include "rs/wire/curve.h"

namespace rs::client {

namespace {

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// The flag, else the environment variable, else the file's contents, trimmed ("" if none).
std::string flag_env_or_file(const std::string& flag, const char* env_name, const char* file) {
  if (std::string f = trim(flag); !f.empty()) return f;
  if (const char* env = std::getenv(env_name); env != nullptr) {
    if (std::string e = trim(env); !e.empty()) return e;
  }
  std::ifstream in(file);
  if (*file != '\0' && in) {
    std::stringstream ss;
    ss << in.rdbuf();
    if (std::string e = trim(ss.str()); !e.empty()) return e;
  }
  return "";
}

}  // namespace

Result<std::string> resolve_endpoint(const std::string& flag) {
  if (std::string e = flag_env_or_file(flag, "RINGSERVE_BROKER", "var/endpoint"); !e.empty()) return e;
  return schemas::wire_error(schemas::ErrorCode::kUnavailable,
                            "no broker endpoint: pass --broker, set RINGSERVE_BROKER or run 'ringserve up'");
}

Result<std::string> resolve_redis(const std::string& flag) {
  if (std::string e = flag_env_or_file(flag, "RINGSERVE_REDIS", "var/redis"); !e.empty()) return e;
  return schemas::wire_error(schemas::ErrorCode::kUnavailable,
                            "no redis address: pass --redis HOST:PORT, set RINGSERVE_REDIS or run 'ringserve up'");
}

Result<CurveCredentials> resolve_curve(const std::string& key_flag,
                                       const std::string& broker_key_flag) {
  std::string key = flag_env_or_file(key_flag, "RINGSERVE_CURVE_KEY", "");
  std::string broker = flag_env_or_file(broker_key_flag, "RINGSERVE_BROKER_KEY", "");
  if (key.empty() && broker.empty()) {
    std::ifstream a("var/keys/cli.key"), b("var/keys/broker.pub");
    if (!a || !b) return CurveCredentials{};
    key = "var/keys/cli.key";
    broker = "var/keys/broker.pub";
  }
  if (key.empty() || broker.empty()) {
    return invalid_argument("CURVE needs both a client key (--curve-key) and the broker's (--broker-key)");
  }
  RS_ASSIGN_OR_RETURN(wire::CurveClientKeys keys, wire::load_curve_client_keys(key, broker));
  return CurveCredentials{.server_public_key = keys.server_public_key,
                          .public_key = keys.own.public_key,
                          .secret_key = keys.own.secret_key};
}

wire::CurveClientKeys to_wire_keys(const CurveCredentials& c) {
  return wire::CurveClientKeys{.server_public_key = c.server_public_key,
                               .own = {.public_key = c.public_key, .secret_key = c.secret_key}};
}

}  // namespace rs::client
