// GatewayMetrics: the gateway's Prometheus metrics (docs/METRICS.md): HTTP requests by
// route and status, their duration, SSE streams open, resumes, disconnect cancels, auth
// failures, TLS handshake failures, the broker link. Updated on the gateway's Asio thread (atomics); rendered by the
// metrics server's thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "rs/metrics/metrics.h"

namespace rs::gateway {

class GatewayMetrics {
 public:
  // broker_up: whether the broker answers now (read at each scrape; thread-safe).
  explicit GatewayMetrics(std::function<bool()> broker_up);

  metrics::Registry& registry() { return registry_; }
  void request_done(std::string_view route, int status, double seconds);
  void stream_opened() { streams_.add(1); }
  void stream_closed() { streams_.add(-1); }
  void resumed() { resumes_.inc(); }
  void disconnect_cancel() { disconnect_cancels_.inc(); }
  void auth_failed() { auth_failures_.inc(); }
  void tls_handshake_failed() { tls_handshake_failures_.inc(); }

 private:
  metrics::Registry registry_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& duration_;
  metrics::Gauge& streams_;
  metrics::Counter& resumes_;
  metrics::Counter& disconnect_cancels_;
  metrics::Counter& auth_failures_;
  metrics::Counter& tls_handshake_failures_;
};

// The route template of a request target ("/v1/jobs/{id}/events"; "other" if unknown).
std::string_view route_label(std::string_view target);

}  // namespace rs::gateway
