// `ringserve redis-acl`: the ACL users of a Redis of your own (docs/REDIS.md "Users and
// passwords"): writes DIR/redis.acl and DIR/keys/redis-<role>.password as `ringserve up`
// does (passwords made once, then reused), or prints each role's rules (--rules). Touches no
// Redis. Main thread only.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "options.h"
#include "redis_credentials.h"
#include "rs/store/redis_acl.h"

namespace rs::cli {

namespace {

struct RedisAclArgs {
  std::string dir = "var";
  std::string prefix = "rs:";
  bool rules = false;
};

int run_redis_acl(const RedisAclArgs& args) {
  if (args.rules) {
    auto file = store::redis_acl_file({}, args.prefix);  // its `default` line (see redis_acl.h)
    if (!file.ok()) {
      std::fprintf(stderr, "error: %s\n", file.status().to_string().c_str());
      return 1;
    }
    std::printf("%s", file->c_str());
    for (store::RedisRole role : store::kRedisRoles) {
      auto rules = store::redis_acl_rules(role, args.prefix);
      if (!rules.ok()) {
        std::fprintf(stderr, "error: %s\n", rules.status().to_string().c_str());
        return 1;
      }
      std::printf("user %s on >PASSWORD %s\n", std::string(store::redis_role_name(role)).c_str(), rules->c_str());
    }
    return 0;
  }
  if (Status s = ensure_redis_credentials(args.dir, args.prefix); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.to_string().c_str());
    return 1;
  }
  std::printf("%s (for redis-server --aclfile: one user per role, NOAUTH without one)\n", redis_acl_path(args.dir).c_str());
  for (store::RedisRole role : store::kRedisRoles) {
    std::printf("%s (--redis-user %s --redis-password-file ...)\n", redis_password_path(args.dir, role).c_str(),
                std::string(store::redis_role_name(role)).c_str());
  }
  return 0;
}

}  // namespace

void add_redis_acl_command(CLI::App& app) {
  auto args = std::make_shared<RedisAclArgs>();
  CLI::App* cmd = app.add_subcommand(
      "redis-acl", "write a Redis ACL file and one password file per role (broker, worker, gateway, cli)");
  cmd->add_option("--dir", args->dir, "where: DIR/redis.acl and DIR/keys/ (default: var, as `ringserve up`)");
  cmd->add_option("--key-prefix", args->prefix, "the pool's key prefix (default: rs:)");
  cmd->add_flag("--rules", args->rules, "print each role's ACL rules instead (with >PASSWORD to fill in)");
  cmd->callback([args] { exit_code() = run_redis_acl(*args); });
}

}  // namespace rs::cli
