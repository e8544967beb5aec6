// MetricsServer: plain HTTP/1.x on its own thread for GET /metrics (the Registry rendered),
// /healthz and /readyz (the readiness callback). It owns its listening socket, its thread
// and its connections (each answered once, then closed). Start and destroy from one
// thread; the readiness callback runs on the server's thread and must be thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "rs/core/result.h"
#include "rs/metrics/metrics.h"

namespace rs::metrics {

struct Readiness {
  bool ready = true;
  std::string reason;  // a code: "redis_down", "engine_stalled", ...
  std::string detail;  // for a human
};
using ReadinessFn = std::function<Readiness()>;

struct HttpAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  bool head_only = false;  // a HEAD request: headers only
};

constexpr size_t kMaxRequestHeadBytes = 8192;

// ringserve_ready (1 ready, 0 not), read from `readiness` at each render (its series is
// what alerts see of /readyz).
void add_readiness_metric(Registry& registry, ReadinessFn readiness);

// Pure: the answer to a request whose head (request line and headers) is `head`; std::nullopt
// while the head is incomplete and still under kMaxRequestHeadBytes.
std::optional<HttpAnswer> answer_request(std::string_view head, const Registry& registry,
                                         const ReadinessFn& readiness);
// The whole HTTP response for an answer (Connection: close, Content-Length).
std::string format_response(const HttpAnswer& answer);

class MetricsServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;                    // 0: any free port (see port())
    int connection_timeout_ms = 5000;
    int max_connections = 64;
  };
  // Binds and starts the thread; an error if the address cannot be bound.
  static Result<std::unique_ptr<MetricsServer>> start(Options options, const Registry& registry,
                                                      ReadinessFn readiness);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

 private:
  MetricsServer(Options options, const Registry& registry, ReadinessFn readiness);
  void run();

  Options options_;
  const Registry& registry_;
  ReadinessFn readiness_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0};
  std::thread thread_;
};

}  // namespace rs::metrics
