#include "redis_subscriber.h"

#include <hiredis/hiredis.h>
#include <poll.h>

#include "rs/store/redis_auth.h"

namespace rs::worker::models {
namespace {

timeval to_timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

}  // namespace

Status RedisSubscriber::connect(const store::RedisOptions& redis, const std::string& channel,
                                int timeout_ms) {
  disconnect();
  redisContext* c = redisConnectWithTimeout(redis.host.c_str(), redis.port, to_timeval(timeout_ms));
  if (c == nullptr) return Status(StatusCode::kUnavailable, "subscriber: cannot allocate a context");
  if (c->err != 0) {
    Status s(StatusCode::kUnavailable, std::string("subscriber: connect: ") + c->errstr);
    redisFree(c);
    return s;
  }
  redisSetTimeout(c, to_timeval(timeout_ms));
  if (Status auth = store::redis_authenticate(c, redis); !auth.ok()) {
    redisFree(c);
    return auth;
  }
  auto* reply = static_cast<redisReply*>(
      redisCommand(c, "SUBSCRIBE %b", channel.data(), static_cast<size_t>(channel.size())));
  if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
    Status s = permission_denied("subscriber: SUBSCRIBE " + channel + ": " + std::string(reply->str, reply->len));
    freeReplyObject(reply);
    redisFree(c);
    return s;
  }
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
    Status s(StatusCode::kUnavailable,
             std::string("subscriber: SUBSCRIBE failed: ") + (c->err != 0 ? c->errstr : "bad reply"));
    if (reply != nullptr) freeReplyObject(reply);
    redisFree(c);
    return s;
  }
  freeReplyObject(reply);
  ctx_ = c;
  return Status();
}

void RedisSubscriber::disconnect() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

// Every complete message already read into hiredis's buffer.
Result<bool> RedisSubscriber::drain_buffered() {
  bool any = false;
  for (;;) {
    void* reply = nullptr;
    if (redisGetReplyFromReader(ctx_, &reply) != REDIS_OK) {
      disconnect();
      return Status(StatusCode::kUnavailable, "subscriber: protocol error");
    }
    if (reply == nullptr) return any;
    freeReplyObject(reply);
    any = true;
  }
}

Result<bool> RedisSubscriber::wait(int timeout_ms) {
  if (ctx_ == nullptr) return Status(StatusCode::kUnavailable, "subscriber: not connected");
  RS_ASSIGN_OR_RETURN(bool buffered, drain_buffered());
  if (buffered) return true;
  pollfd p{ctx_->fd, POLLIN, 0};
  const int n = ::poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
  if (n == 0) return false;
  if (n < 0) return false;  // EINTR: the caller simply waits again
  if (redisBufferRead(ctx_) != REDIS_OK) {
    Status s(StatusCode::kUnavailable, std::string("subscriber: read: ") + ctx_->errstr);
    disconnect();
    return s;
  }
  return drain_buffered();
}

}  // namespace rs::worker::models
