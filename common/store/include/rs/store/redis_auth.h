// Redis credentials: the AUTH every connection sends after each (re)connect, the password
// file every program reads (--redis-password-file), and the address forms HOST:PORT and
// redis://USER:PASSWORD@HOST:PORT. Plain functions; redis_authenticate runs on the thread
// that owns the context, the others on any thread (programs call them at startup).
#pragma once

#include <string>

#include "rs/core/result.h"
#include "rs/store/redis_connection.h"

struct redisContext;

namespace rs::store {

// AUTH [user] password on a fresh connection when options.password is set (nothing to do
// otherwise). A refusal (WRONGPASS, a disabled user, no password configured) is
// permission_denied with Redis's reply and the user's name; a transport failure unavailable.
Status redis_authenticate(redisContext* ctx, const RedisOptions& options);

// The first line of FILE (a trailing \r is dropped). not_found / io_error when the file is
// missing or unreadable, invalid_argument when that line is empty. *warning (if given) is
// set when group or others may read the file.
Result<std::string> read_password_file(const std::string& path, std::string* warning = nullptr);

// What a program was told: --redis, --redis-user, --redis-password-file.
struct RedisFlags {
  std::string address;        // HOST:PORT or redis://[USER[:PASSWORD]@]HOST:PORT
  std::string user;           // "" -> the URL's user, else none (AUTH password only)
  std::string password_file;  // "" -> the URL's password, else none
};

// RedisOptions from the flags. A password given twice (URL and file) is invalid_argument;
// so is a user without any password. *warning as read_password_file's.
Result<RedisOptions> redis_options_from(const RedisFlags& flags, std::string* warning = nullptr);

// One connect + AUTH, for a program's startup: permission_denied when Redis refuses the
// credentials (the program should stop and say so), ok otherwise, also when Redis cannot be
// reached (the programs wait for a Redis that comes later).
Status check_redis_credentials(const RedisOptions& options);

// What a program does at startup with its flags: redis_options_from (a warning about the
// password file goes to stderr), then check_redis_credentials. Errors are ready to print.
Result<RedisOptions> startup_redis_options(const RedisFlags& flags);

// "user 'worker'" / "the default user": who an error message is about.
std::string redis_user_label(const RedisOptions& options);

}  // namespace rs::store
