// RedisConnection: one blocking hiredis connection with timeouts, lazy reconnect and
// pipelining. Owned and used by one thread at a time (not thread-safe). Redis being down
// is an ordinary error (unavailable), never a crash; the next call tries to reconnect.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rs/core/result.h"
#include "rs/store/redis_reply.h"

struct redisContext;

namespace rs::store {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  int connect_timeout_ms = 1000;
  int command_timeout_ms = 2000;
  // While disconnected, a command retries the connection at most this often; in between
  // it fails at once with unavailable (a broker loop must not stall on a dead Redis).
  int reconnect_interval_ms = 200;
  // Sent as AUTH [user] password after every (re)connect, before any command, when the
  // password is set (redis_auth.h). A refused AUTH fails the connect with permission_denied.
  std::string user;
  std::string password;
};

// "HOST:PORT" (an IPv6 host may be bracketed: "[::1]:6379") or the URL form
// "redis://[USER[:PASSWORD]@]HOST[:PORT]" (port 6379 by default; USER and PASSWORD
// %-decoded; "redis://:PASSWORD@HOST:PORT" for a password without a user) -> RedisOptions
// with default timeouts; invalid_argument "bad redis address ..." otherwise.
Result<RedisOptions> parse_redis_address(const std::string& address);

// One command: binary-safe arguments, e.g. {"HSET", key, field, value}.
using RedisCommand = std::vector<std::string>;

// A command from its arguments, each moved in (a braced list would copy every string
// again out of its initializer_list, a second allocation for each one past 15 bytes).
template <class... Args>
RedisCommand make_command(Args&&... args) {
  RedisCommand c;
  c.reserve(sizeof...(Args));
  (c.emplace_back(std::forward<Args>(args)), ...);
  return c;
}

// How a pipeline waits for its replies. Without it a command timeout fails the batch. With
// it, a timeout (Redis stalled, the connection still open) calls on_stall once and the
// replies are awaited on the same connection until patience_ms have passed in all or
// should_stop says so: the batch is never sent again on another connection while a stalled
// Redis may still run its first copy (which could then land after newer writes).
struct PipelinePatience {
  int64_t patience_ms = 0;
  std::function<void(const Status&)> on_stall;
  std::function<bool()> should_stop;
};

class RedisConnection {
 public:
  explicit RedisConnection(RedisOptions options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects now (or reconnects), then AUTHs when options carry a password. unavailable
  // with the reason when Redis cannot be reached; permission_denied when AUTH is refused.
  Status connect();
  bool connected() const { return ctx_ != nullptr; }
  void disconnect();
  const RedisOptions& options() const { return options_; }

  // One round trip. A Redis error reply (e.g. WRONGTYPE) is returned as an ok Result
  // holding a reply of type kError; transport failures are unavailable.
  Result<RedisReply> command(const RedisCommand& args);
  // Appends every command, then reads every reply: one round trip for N commands.
  // Replies are in command order; any transport failure fails the whole batch (the
  // caller cannot know which commands ran, so the batch's writes must be idempotent
  // or re-checked). A connection found dead at once (Redis restarted since its last use)
  // is replaced and the batch sent once more.
  Result<std::vector<RedisReply>> pipeline(const std::vector<RedisCommand>& commands,
                                           const PipelinePatience* patience = nullptr);

  uint64_t reconnects() const { return reconnects_; }

 private:
  static constexpr int64_t kStaleFailMs = 50;
  Result<std::vector<RedisReply>> pipeline_once(const std::vector<RedisCommand>& commands,
                                                const PipelinePatience* patience);
  // The next reply into *raw; false on a transport failure (or patience exhausted).
  bool await_reply(void** raw, const PipelinePatience* patience, int64_t start_ms, bool* stalled);
  Status ensure_connected();
  Status transport_error(const char* what);

  RedisOptions options_;
  redisContext* ctx_ = nullptr;
  int64_t next_attempt_ms_ = 0;
  uint64_t reconnects_ = 0;
  bool ever_connected_ = false;
};

}  // namespace rs::store
