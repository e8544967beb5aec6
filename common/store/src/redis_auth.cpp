// AUTH after connect, password files and RedisOptions from a program's --redis flags.
#include "rs/store/redis_auth.h"

#include <hiredis/hiredis.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

namespace rs::store {

std::string redis_user_label(const RedisOptions& options) {
  return options.user.empty() ? std::string("the default user") : "user '" + options.user + "'";
}

Status redis_authenticate(redisContext* ctx, const RedisOptions& options) {
  if (options.password.empty()) return {};
  const std::string where = "redis " + options.host + ":" + std::to_string(options.port);
  std::vector<const char*> argv = {"AUTH"};
  std::vector<size_t> lens = {4};
  if (!options.user.empty()) {
    argv.push_back(options.user.data());
    lens.push_back(options.user.size());
  }
  argv.push_back(options.password.data());
  lens.push_back(options.password.size());
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (reply == nullptr) {
    return {StatusCode::kUnavailable, where + ": AUTH: " + (ctx->err != 0 ? ctx->errstr : "no reply")};
  }
  Status s;
  if (reply->type == REDIS_REPLY_ERROR) {
    s = permission_denied(where + ": AUTH as " + redis_user_label(options) + " refused: " +
                          std::string(reply->str, reply->len) +
                          " (check --redis-user and --redis-password-file)");
  }
  freeReplyObject(reply);
  return s;
}

Result<std::string> read_password_file(const std::string& path, std::string* warning) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    std::string m = "redis password file " + path + ": " + std::strerror(err);
    return err == ENOENT ? not_found(std::move(m)) : io_error(std::move(m));
  }
  if (!S_ISREG(st.st_mode)) return invalid_argument("redis password file " + path + ": not a regular file");
  std::ifstream in(path);
  if (!in) return io_error("redis password file " + path + ": cannot read it (permissions?)");
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return invalid_argument("redis password file " + path + ": its first line is empty");
  if (warning != nullptr && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    *warning = "redis password file " + path + " is readable by group or others (chmod 600 it)";
  }
  return line;
}

Result<RedisOptions> redis_options_from(const RedisFlags& flags, std::string* warning) {
  RS_ASSIGN_OR_RETURN(RedisOptions o, parse_redis_address(flags.address));
  if (!flags.user.empty()) o.user = flags.user;
  if (!flags.password_file.empty()) {
    if (!o.password.empty()) {
      return invalid_argument("the redis password is given twice: in the --redis URL and --redis-password-file");
    }
    RS_ASSIGN_OR_RETURN(o.password, read_password_file(flags.password_file, warning));
  }
  if (!o.user.empty() && o.password.empty()) {
    return invalid_argument("redis user '" + o.user + "' has no password: add --redis-password-file FILE");
  }
  return o;
}

Status check_redis_credentials(const RedisOptions& options) {
  RedisConnection conn(options);
  Status s = conn.connect();
  if (!s.ok()) return s.code() == StatusCode::kPermissionDenied ? s : Status();
  auto pong = conn.command({"PING"});
  if (!pong.ok()) return Status();
  if (pong->is_error() && pong->str.rfind("NOAUTH", 0) == 0) {
    return permission_denied("redis " + options.host + ":" + std::to_string(options.port) +
                             " wants a password: " + pong->str +
                             " (pass --redis-user and --redis-password-file)");
  }
  return pong->error_status("redis PING").code() == StatusCode::kPermissionDenied
             ? pong->error_status("redis PING as " + redis_user_label(options))
             : Status();
}

}  // namespace rs::store

namespace rs::store {

Result<RedisOptions> startup_redis_options(const RedisFlags& flags) {
  std::string warning;
  RS_ASSIGN_OR_RETURN(RedisOptions o, redis_options_from(flags, &warning));
  if (!warning.empty()) std::fprintf(stderr, "warning: %s\n", warning.c_str());
  RS_RETURN_IF_ERROR(check_redis_credentials(o));
  return o;
}

}  // namespace rs::store
