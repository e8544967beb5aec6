// RedisSubscriber: one hiredis connection in SUBSCRIBE mode on one channel, read with a
// timeout (poll(2) on its socket, so a quiet channel never stalls the caller past the
// timeout and never breaks the connection). Owned and used by one thread (the watcher's).
#pragma once

#include <string>

#include "rs/core/result.h"
#include "rs/core/status.h"
#include "rs/store/redis_connection.h"

struct redisContext;

namespace rs::worker::models {

class RedisSubscriber {
 public:
  RedisSubscriber() = default;
  ~RedisSubscriber() { disconnect(); }
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  // Connects (AUTH with redis's user and password, if any) and subscribes; unavailable on
  // failure, permission_denied when Redis refuses the credentials or the channel.
  Status connect(const store::RedisOptions& redis, const std::string& channel, int timeout_ms);
  bool connected() const { return ctx_ != nullptr; }
  void disconnect();
  // Waits up to timeout_ms for messages and consumes every one that arrived: true when at
  // least one did. A broken connection is unavailable (and disconnects).
  Result<bool> wait(int timeout_ms);

 private:
  Result<bool> drain_buffered();

  redisContext* ctx_ = nullptr;
};

}  // namespace rs::worker::models
