#include "rs/store/redis_connection.h"

#include "rs/store/redis_auth.h"

#include <hiredis/hiredis.h>
#include <cerrno>
#include <sys/time.h>

#include <charconv>
#include <chrono>

namespace rs::store {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval to_timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::kString; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::kStatus; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::kError; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::kInteger; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::kArray; break;
    default: out.type = RedisReply::Type::kNil; break;
  }
  if (r->str != nullptr && r->len > 0) out.str.assign(r->str, static_cast<size_t>(r->len));
  out.integer = r->integer;
  if (r->type == REDIS_REPLY_ARRAY) {
    out.elements.reserve(r->elements);
    for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
  }
  return out;
}

// RESP for one command, appended to out: *N, then $len and the bytes of each argument.
// The whole pipeline is formatted into one buffer and handed to hiredis at once (hiredis's
// own per-command formatting was the broker's largest single cost).
void append_resp(const RedisCommand& args, std::string& out) {
  char head[32];
  auto put_len = [&](char tag, size_t n) {
    head[0] = tag;
    auto [end, ec] = std::to_chars(head + 1, head + sizeof head - 2, n);
    (void)ec;
    *end++ = '\r';
    *end++ = '\n';
    out.append(head, static_cast<size_t>(end - head));
  };
  put_len('*', args.size());
  for (const std::string& a : args) {
    put_len('$', a.size());
    out.append(a);
    out.append("\r\n", 2);
  }
}

}  // namespace

RedisConnection::RedisConnection(RedisOptions options) : options_(std::move(options)) {}

RedisConnection::~RedisConnection() { disconnect(); }

void RedisConnection::disconnect() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

Status RedisConnection::connect() {
  disconnect();
  next_attempt_ms_ = now_ms() + options_.reconnect_interval_ms;
  std::string where = options_.host + ":" + std::to_string(options_.port);
  redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                            to_timeval(options_.connect_timeout_ms));
  if (c == nullptr) return {StatusCode::kUnavailable, "redis " + where + ": cannot allocate context"};
  if (c->err != 0) {
    Status s(StatusCode::kUnavailable, "redis " + where + ": " + c->errstr);
    redisFree(c);
    return s;
  }
  if (redisSetTimeout(c, to_timeval(options_.command_timeout_ms)) != REDIS_OK) {
    redisFree(c);
    return {StatusCode::kUnavailable, "redis " + where + ": cannot set timeout"};
  }
  redisEnableKeepAlive(c);
  if (Status auth = redis_authenticate(c, options_); !auth.ok()) {
    redisFree(c);
    return auth;
  }
  ctx_ = c;
  if (ever_connected_) ++reconnects_;
  ever_connected_ = true;
  return {};
}

Status RedisConnection::ensure_connected() {
  if (ctx_ != nullptr) return {};
  if (now_ms() < next_attempt_ms_) {
    return {StatusCode::kUnavailable, "redis " + options_.host + ":" + std::to_string(options_.port) +
                                          ": disconnected (retrying)"};
  }
  return connect();
}

Status RedisConnection::transport_error(const char* what) {
  std::string m = "redis " + options_.host + ":" + std::to_string(options_.port) + ": " + what;
  if (ctx_ != nullptr && ctx_->err != 0) m += std::string(": ") + ctx_->errstr;
  // The connection state is unknown (partial replies): drop it; the next call reconnects.
  disconnect();
  next_attempt_ms_ = 0;  // try again at once on the next call
  return {StatusCode::kUnavailable, std::move(m)};
}

Result<RedisReply> RedisConnection::command(const RedisCommand& args) {
  RS_ASSIGN_OR_RETURN(auto replies, pipeline({args}));
  return std::move(replies[0]);
}

// A connection that died while idle (Redis restarted) fails its first use at once: that
// pipeline is sent once more on a fresh connection. A slow failure (a timeout) is final.
Result<std::vector<RedisReply>> RedisConnection::pipeline(const std::vector<RedisCommand>& commands,
                                                          const PipelinePatience* patience) {
  const bool had_connection = ctx_ != nullptr;
  const int64_t start_ms = now_ms();
  auto r = pipeline_once(commands, patience);
  if (r.ok() || !had_connection || now_ms() - start_ms > kStaleFailMs) return r;
  if (!connect().ok()) return r;
  return pipeline_once(commands, patience);
}

bool RedisConnection::await_reply(void** raw, const PipelinePatience* patience, int64_t start_ms,
                                  bool* stalled) {
  for (;;) {
    errno = 0;
    const int rc = redisGetReply(ctx_, raw);
    const int err = errno;
    if (rc == REDIS_OK && *raw != nullptr) return true;
    if (*raw != nullptr) {
      freeReplyObject(*raw);
      *raw = nullptr;
    }
    const bool timed_out = ctx_->err == REDIS_ERR_IO && (err == EAGAIN || err == EWOULDBLOCK);
    if (patience == nullptr || !timed_out || now_ms() - start_ms >= patience->patience_ms) return false;
    if (patience->should_stop && patience->should_stop()) return false;
    if (!*stalled) {
      *stalled = true;
      if (patience->on_stall) {
        patience->on_stall({StatusCode::kUnavailable,
                            "redis " + options_.host + ":" + std::to_string(options_.port) +
                                ": no reply within " + std::to_string(options_.command_timeout_ms) +
                                " ms (stalled); waiting on the same connection"});
      }
    }
    // A timeout leaves hiredis's buffers consistent (unsent bytes stay queued, a partial
    // reply stays in the reader): clear the error and go on waiting.
    ctx_->err = 0;
    ctx_->errstr[0] = '\0';
  }
}

Result<std::vector<RedisReply>> RedisConnection::pipeline_once(const std::vector<RedisCommand>& commands,
                                                               const PipelinePatience* patience) {
  std::vector<RedisReply> out;
  if (commands.empty()) return out;
  RS_RETURN_IF_ERROR(ensure_connected());
  std::string resp;
  size_t bytes = 0;
  for (const RedisCommand& c : commands) {
    for (const std::string& a : c) bytes += a.size() + 16;
  }
  resp.reserve(bytes + 16 * commands.size());
  for (const RedisCommand& c : commands) append_resp(c, resp);
  if (redisAppendFormattedCommand(ctx_, resp.data(), resp.size()) != REDIS_OK) {
    return transport_error("cannot queue command");
  }
  out.reserve(commands.size());
  const int64_t start_ms = patience != nullptr ? now_ms() : 0;
  bool stalled = false;
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (!await_reply(&raw, patience, start_ms, &stalled)) return transport_error("connection lost");
    auto* reply = static_cast<redisReply*>(raw);
    out.push_back(convert(reply));
    freeReplyObject(reply);
  }
  return out;
}

namespace {

// %XX escapes of a URL's user or password; false on a bad escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    int v = 0;
    if (i + 2 >= in.size()) return false;
    auto [end, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
    if (ec != std::errc() || end != in.data() + i + 3) return false;
    out.push_back(static_cast<char>(v));
    i += 2;
  }
  return true;
}

}  // namespace

Result<RedisOptions> parse_redis_address(const std::string& address) {
  auto bad = [&](const char* want) {
    // Never echo a URL's password.
    std::string shown = address.rfind("redis://", 0) == 0 ? "redis://..." : address;
    return invalid_argument("bad redis address '" + shown + "': want " + want);
  };
  std::string_view rest = address;
  RedisOptions o;
  const bool url = rest.rfind("redis://", 0) == 0;
  if (url) {
    rest.remove_prefix(8);
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
      std::string_view cred = rest.substr(0, at);
      rest.remove_prefix(at + 1);
      size_t colon = cred.find(':');
      if (!percent_decode(cred.substr(0, colon), o.user)) return bad("redis://USER:PASSWORD@HOST:PORT");
      if (colon != std::string_view::npos && !percent_decode(cred.substr(colon + 1), o.password)) {
        return bad("redis://USER:PASSWORD@HOST:PORT");
      }
    }
  }
  size_t colon = rest.rfind(':');
  const bool bracketed_only = !rest.empty() && rest.back() == ']';
  if (url && (colon == std::string_view::npos || bracketed_only)) {
    colon = rest.size();  // no port in the URL: 6379
  }
  const char* want = url ? "redis://[USER[:PASSWORD]@]HOST[:PORT]" : "HOST:PORT";
  if (colon == std::string_view::npos || colon == 0) return bad(want);
  std::string host(rest.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 6379;
  if (colon < rest.size()) {
    const char* first = rest.data() + colon + 1;
    const char* last = rest.data() + rest.size();
    auto [end, ec] = std::from_chars(first, last, port);
    if (first == last || ec != std::errc() || end != last) return bad(want);
  }
  if (port < 1 || port > 65535 || host.empty()) return bad(want);
  o.host = host;
  o.port = port;
  return o;
}

}  // namespace rs::store
