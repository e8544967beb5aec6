// Gateway: the OpenAI-compatible HTTP front door of the pool. It owns the HTTP acceptor and
// connections (Boost.Beast on one Asio thread), the BrokerBridge thread (rs_client) and the
// API-key cache thread (Redis, keys only). run() blocks until stop() (any thread, or
// SIGTERM via the program) ends it gracefully.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rs/client/client.h"
#include "rs/core/status.h"
#include "rs/metrics/metrics_server.h"

namespace rs::gateway {

struct GatewayOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;            // 0: a free port (see port())
  std::string broker_endpoint;  // the broker's client endpoint
  client::CurveCredentials broker_curve;  // CURVE to the broker (a gateway-role key); empty: plain
  std::string redis;            // host:port (or redis:// URL) for API keys; "" only with no_auth
  std::string redis_user;           // Redis ACL user (docs/REDIS.md), "" = none / the URL's
  std::string redis_password_file;  // its password's file, "" = none / the URL's
  bool no_auth = false;
  size_t max_body_bytes = 4u << 20;  // larger -> 413
  size_t max_header_bytes = 16u << 10;
  int header_timeout_ms = 10000;              // a request's headers must arrive within this
  int idle_timeout_ms = 60000;                // a keep-alive connection with no request is closed
  int keepalive_ms = 15000;                   // SSE comment interval on a quiet stream
  int disconnect_grace_ms = 2000;             // a vanished client's job is cancelled after this
  int request_timeout_ms = 5000;              // broker replies
  int drain_ms = 3000;                        // on stop: in-flight requests get this long
  size_t max_stream_buffer_bytes = 8u << 20;  // a client that reads slower is cut off
  uint32_t max_n = 16;
  // TLS: both PEM files or neither; with them every connection is HTTPS (TLS 1.2+).
  std::string tls_cert;  // certificate chain, leaf first
  std::string tls_key;   // its private key (unencrypted)
};

class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();
  // Binds the port and starts the broker and key threads.
  Status start();
  uint16_t port() const;
  // After start(): the Prometheus metrics (any thread may render them) and readiness (the
  // broker answers; any thread).
  metrics::Registry* metrics_registry();
  metrics::Readiness readiness() const;
  // Serves until stop(). Call from one thread.
  Status run();
  // Any thread (signal-safe only through the program's self-pipe).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::gateway
