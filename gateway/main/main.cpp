// ringserve-gateway: the OpenAI-compatible HTTP front door. Prints "http_url URL" once it
// listens; SIGTERM / SIGINT stop it gracefully (in-flight answers get --drain-ms).
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

#include "rs/client/client.h"
#include "rs/core/log.h"
#include "rs/gateway/gateway.h"

namespace {

// The open-file limit as high as allowed: every stream is a socket.
void raise_open_files() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringserve-gateway: OpenAI-compatible HTTP front door of the pool"};
  rs::gateway::GatewayOptions o;
  std::string log_level = "info";
  std::string log_format = "text";
  app.add_option("--host", o.host, "address to listen on");
  app.add_option("--port", o.port, "port to listen on (0: a free one)");
  app.add_option("--broker", o.broker_endpoint, "the broker's client endpoint")->required();
  std::string curve_key, broker_key;
  app.add_option("--curve-key", curve_key, "CURVE: the gateway's key file (ringserve keys zmq new --role gateway)");
  app.add_option("--broker-key", broker_key, "CURVE: the broker's public key file (var/keys/broker.pub)");
  app.add_option("--redis", o.redis,
                 "Redis HOST:PORT of the API keys, or redis://USER:PASSWORD@HOST:PORT (a URL's password "
                 "shows in ps)");
  app.add_option("--redis-user", o.redis_user, "Redis ACL user (e.g. gateway; docs/REDIS.md)");
  app.add_option("--redis-password-file", o.redis_password_file, "file whose first line is the Redis password");
  app.add_flag("--no-auth", o.no_auth, "serve without API keys (tenant \"\")");
  app.add_option("--max-body-bytes", o.max_body_bytes, "larger request bodies are refused (413)");
  app.add_option("--header-timeout-ms", o.header_timeout_ms,
                 "a request's headers must arrive within this");
  app.add_option("--idle-timeout-ms", o.idle_timeout_ms,
                 "an idle keep-alive connection is closed after this");
  app.add_option("--keepalive-ms", o.keepalive_ms, "SSE keep-alive comment interval");
  app.add_option(
      "--disconnect-grace-ms", o.disconnect_grace_ms,
      "a vanished client's (non-background) jobs are cancelled after this unless resumed here");
  app.add_option("--request-timeout-ms", o.request_timeout_ms, "broker reply timeout (then 503)");
  app.add_option("--drain-ms", o.drain_ms, "on SIGTERM, answers in flight get this long");
  app.add_option("--max-n", o.max_n, "largest n accepted");
  app.add_option("--tls-cert", o.tls_cert,
                 "serve HTTPS: the certificate chain (PEM, leaf first); needs --tls-key");
  app.add_option("--tls-key", o.tls_key, "the certificate's private key (PEM, unencrypted)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  app.add_option("--log-format", log_format, "text (default) or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  int metrics_port = -1;
  std::string metrics_host = "127.0.0.1";
  app.add_option("--metrics-port", metrics_port,
                 "serve /metrics, /healthz and /readyz on this port (0 = any free port; default: none)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--metrics-host", metrics_host, "the metrics port's IPv4 address");
  // A flag given twice (defaults, then a test's or operator's override): the last one wins.
  for (CLI::Option* opt : app.get_options()) {
    if (!opt->check_name("--help")) opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  CLI11_PARSE(app, argc, argv);
  rs::init_logging(log_level, log_format, "gateway");
  if (!curve_key.empty() || !broker_key.empty()) {
    auto curve = rs::client::resolve_curve(curve_key, broker_key);
    if (!curve.ok()) {
      std::fprintf(stderr, "error: %s\n", curve.status().to_string().c_str());
      return 2;
    }
    o.broker_curve = *curve;
  }
  raise_open_files();

  // Signals are waited for on a thread of their own (no work in a handler).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  rs::gateway::Gateway gateway(o);
  if (rs::Status s = gateway.start(); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.to_string().c_str());
    return 1;
  }
  std::unique_ptr<rs::metrics::MetricsServer> metrics_server;
  if (metrics_port >= 0) {
    rs::metrics::add_readiness_metric(*gateway.metrics_registry(),
                                      [&gateway] { return gateway.readiness(); });
    auto server = rs::metrics::MetricsServer::start(
        {.host = metrics_host, .port = metrics_port}, *gateway.metrics_registry(),
        [&gateway] { return gateway.readiness(); });
    if (!server.ok()) {
      std::fprintf(stderr, "error: --metrics-port: %s\n", server.status().to_string().c_str());
      return 1;
    }
    metrics_server = std::move(server).value();
    std::printf("metrics_url http://%s:%d\n", metrics_host.c_str(), metrics_server->port());
  }
  std::printf("http_url %s://%s:%u\n", o.tls_cert.empty() ? "http" : "https", o.host.c_str(),
              static_cast<unsigned>(gateway.port()));
  std::fflush(stdout);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("gateway: signal {}: stopping", sig);
    gateway.stop();
  });
  waiter.detach();
  rs::Status s = gateway.run();
  return s.ok() ? 0 : 1;
}
