// VAR/keys and VAR/redis.acl of `ringserve up`, and the CLI's Redis credentials.
#include "redis_credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "rs/client/client.h"
#include "rs/store/redis_auth.h"

namespace rs::cli {
namespace fs = std::filesystem;
namespace {

// Writes `text` to path (mode 0600) through a temp file and a rename.
Status write_private_credentials_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot write " + tmp + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || !synced) return io_error("cannot write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("cannot write " + path + ": " + std::strerror(errno));
  return Status();
}

std::string redis_env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

}  // namespace

std::string redis_password_path(const std::string& var_dir, store::RedisRole role) {
  return var_dir + "/keys/redis-" + std::string(store::redis_role_name(role)) + ".password";
}

std::string redis_acl_path(const std::string& var_dir) { return var_dir + "/redis.acl"; }

Status ensure_redis_credentials(const std::string& var_dir, std::string_view key_prefix) {
  const std::string keys = var_dir + "/keys";
  std::error_code ec;
  fs::create_directories(keys, ec);
  if (ec) return io_error("cannot create " + keys + ": " + ec.message());
  if (::chmod(keys.c_str(), 0700) != 0) return io_error("cannot chmod " + keys + ": " + std::strerror(errno));
  std::vector<std::pair<store::RedisRole, std::string>> passwords;
  for (store::RedisRole role : store::kRedisRoles) {
    const std::string path = redis_password_path(var_dir, role);
    auto existing = store::read_password_file(path);
    if (existing.ok()) {
      ::chmod(path.c_str(), 0600);
      passwords.emplace_back(role, std::move(existing).value());
      continue;
    }
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();
    RS_ASSIGN_OR_RETURN(std::string password, store::random_redis_password());
    RS_RETURN_IF_ERROR(write_private_credentials_file(path, password + "\n"));
    passwords.emplace_back(role, std::move(password));
  }
  RS_ASSIGN_OR_RETURN(std::string acl, store::redis_acl_file(passwords, key_prefix));
  return write_private_credentials_file(redis_acl_path(var_dir), acl);
}

Result<store::RedisOptions> resolve_cli_redis(const CliRedisFlags& flags) {
  RS_ASSIGN_OR_RETURN(std::string address, client::resolve_redis(flags.address));
  RS_ASSIGN_OR_RETURN(store::RedisOptions parsed, store::parse_redis_address(address));
  store::RedisFlags f{.address = address, .user = flags.user, .password_file = flags.password_file};
  const bool given = !f.user.empty() || !f.password_file.empty() || !parsed.password.empty();
  if (!given) {
    f.user = redis_env_or_empty("RINGSERVE_REDIS_USER");
    f.password_file = redis_env_or_empty("RINGSERVE_REDIS_PASSWORD_FILE");
  }
  // Redis found through ./var/redis (a `ringserve up` here): its `cli` user, if it has one.
  const bool from_var = flags.address.empty() && redis_env_or_empty("RINGSERVE_REDIS").empty();
  const std::string var_password = redis_password_path("var", store::RedisRole::kCli);
  std::error_code ec;
  if (!given && f.user.empty() && f.password_file.empty() && from_var && fs::exists(var_password, ec)) {
    f.user = std::string(store::redis_role_name(store::RedisRole::kCli));
    f.password_file = var_password;
  }
  std::string warning;
  RS_ASSIGN_OR_RETURN(store::RedisOptions o, store::redis_options_from(f, &warning));
  if (!warning.empty()) std::fprintf(stderr, "warning: %s\n", warning.c_str());
  return o;
}

}  // namespace rs::cli
