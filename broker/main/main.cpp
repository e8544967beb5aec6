// ringserve-broker: binds the client and worker endpoints, prints them, and runs the
// broker loop until SIGINT / SIGTERM.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "rs/broker/loop/broker_loop.h"
#include "rs/core/log.h"
#include "rs/metrics/metrics_server.h"
#include "rs/store/redis_auth.h"
#include "rs/store/redis_connection.h"

namespace {

rs::broker::BrokerLoop* g_loop = nullptr;

extern "C" void on_signal(int) {
  if (g_loop != nullptr) g_loop->request_stop();
}

extern "C" void on_sighup(int) {
  if (g_loop != nullptr) g_loop->request_reload();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringserve-broker: the pool's broker (one thread, one poll loop)"};
  rs::broker::BrokerOptions options;
  rs::store::RedisFlags redis{.address = "127.0.0.1:6379"};
  std::string log_level = "info";
  std::string log_format = "text";
  app.add_option("--client-endpoint", options.client_endpoint, "endpoint clients connect to");
  app.add_option("--worker-endpoint", options.worker_endpoint, "endpoint workers connect to");
  app.add_option("--redis", redis.address,
                 "Redis HOST:PORT, or redis://USER:PASSWORD@HOST:PORT (a URL's password shows in ps)");
  app.add_option("--redis-user", redis.user, "Redis ACL user (e.g. broker; docs/REDIS.md)");
  app.add_option("--redis-password-file", redis.password_file, "file whose first line is the Redis password");
  app.add_option("--max-queued", options.max_queued, "jobs queued at most (then queue_full)");
  app.add_option("--heartbeat-ms", options.heartbeat_ms, "heartbeat interval")->check(CLI::PositiveNumber);
  app.add_option("--max-attempts", options.max_attempts, "dispatch attempts per job")->check(CLI::PositiveNumber);
  app.add_option("--interactive-reserve", options.interactive_reserve,
                 "interactive jobs a device full of batch jobs may take past its slots (0 = none)");
  app.add_option("--queue-timeout-ms", options.queue_timeout_ms, "a queued job fails after this")
      ->check(CLI::PositiveNumber);
  app.add_option("--model-wait-ms", options.model_wait_ms,
                 "a job whose model (version) no device serves fails model_unavailable after this")
      ->check(CLI::PositiveNumber);
  app.add_option("--registry-poll-ms", options.registry_poll_ms,
                 "how often the model registry epoch is polled")->check(CLI::PositiveNumber);
  app.add_option("--max-sessions", options.max_sessions,
                 "session -> model version entries kept (least recently used go)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-frame-bytes", options.limits.max_frame_bytes,
                 "larger frames are answered too_large")->check(CLI::PositiveNumber);
  app.add_option("--socket-max-msg-bytes", options.socket_max_msg_bytes,
                 "ZMQ_MAXMSGSIZE: a larger frame drops its connection (0 = 2 x max-frame-bytes + 64 KiB)");
  app.add_option("--max-client-lag,--client-sndhwm", options.client_sndhwm,
                 "messages queued per client; a subscriber further behind is told `lagged` and "
                 "dropped from the job (it re-subscribes from the log)")->check(CLI::PositiveNumber);
  app.add_option("--client-timeout-ms", options.client_timeout_ms,
                 "a client silent (no PING) this long while every send to it fails is gone: its "
                 "streaming jobs not submitted detached are cancelled (0 = never)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--broker-id", options.broker_id,
                 "this broker's consumer name in the ingest stream's group 'brokers'");
  app.add_option("--ingest-batch", options.ingest_batch,
                 "ingest entries read at most per read (0 = do not read the ingest stream)");
  app.add_option("--ingest-poll-ms", options.ingest_poll_ms, "ingest stream poll interval when idle")
      ->check(CLI::PositiveNumber);
  app.add_option("--ingest-claim-ms", options.ingest_claim_ms,
                 "ingest entries pending this long on a consumer are claimed by this broker")
      ->check(CLI::PositiveNumber);
  app.add_option("--finished-ttl-s", options.finished_ttl_s,
                 "finished job hashes and token streams expire after this (0 = keep; dead-lettered jobs are kept)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--recovery-wait-ms", options.recovery_wait_ms,
                 "after a restart, how long jobs Redis says were running wait for their worker to re-register")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--store-timeout-ms", options.store_timeout_ms,
                 "a Redis write batch unanswered this long is retried and new SUBMITs get unavailable")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-held-writes", options.max_held_writes,
                 "Redis commands held (not yet applied) at most; past it SUBMITs get unavailable "
                 "and dispatch pauses until fewer are held")
      ->check(CLI::PositiveNumber);
  app.add_option("--journal", options.journal_path,
                 "a local file where writes held while Redis fails are kept, so a broker "
                 "killed meanwhile re-applies them at its next start (default: none)");
  bool insecure = false;
  app.add_option("--curve-key", options.curve_key_path,
                 "CURVE: the broker's key file (ringserve keys zmq new --role broker)");
  app.add_option("--allow-workers", options.allow_workers_path,
                 "CURVE: the workers' allow-list (re-read on change or SIGHUP)");
  app.add_option("--allow-clients", options.allow_clients_path,
                 "CURVE: the clients' and gateways' allow-list (re-read on change or SIGHUP)");
  app.add_flag("--insecure", insecure,
                "no CURVE: anyone who reaches the ports is trusted (loopback endpoints only)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  app.add_option("--log-format", log_format, "text (default) or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  rs::metrics::MetricsServer::Options metrics_options;
  int metrics_port = -1;
  app.add_option("--metrics-port", metrics_port,
                 "serve /metrics, /healthz and /readyz on this port (0 = any free port; "
                 "default: none)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--metrics-host", metrics_options.host, "the metrics port's IPv4 address");
  // A flag given twice (defaults, then a test's or operator's override): the last one wins.
  for (CLI::Option* opt : app.get_options()) {
    if (!opt->check_name("--help")) opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  CLI11_PARSE(app, argc, argv);
  rs::init_logging(log_level, log_format, "broker");
  auto redis_options = rs::store::startup_redis_options(redis);
  if (!redis_options.ok()) {
    std::fprintf(stderr, "error: --redis: %s\n", redis_options.status().to_string().c_str());
    return redis_options.status().code() == rs::StatusCode::kInvalidArgument ? 2 : 1;
  }
  options.redis = *redis_options;
  if (options.curve_key_path.empty() && !insecure) {
    std::fprintf(stderr, "error: give --curve-key with --allow-workers and --allow-clients, or "
                         "--insecure (local development; docs/SECURITY.md)\n");
    return 2;
  }
  if (insecure && !options.curve_key_path.empty()) {
    std::fprintf(stderr, "error: --insecure and --curve-key exclude each other\n");
    return 2;
  }
  if (insecure) {
    spdlog::warn("broker: INSECURE: no CURVE; any process that reaches {} or {} is trusted "
                 "(loopback only; never on a shared host)", options.client_endpoint,
                 options.worker_endpoint);
  }
  zmq::context_t context(1);
  rs::broker::BrokerLoop loop(context, options);
  if (rs::Status s = loop.bind(); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.to_string().c_str());
    return 1;
  }
  std::unique_ptr<rs::metrics::MetricsServer> metrics_server;
  if (metrics_port >= 0) {
    metrics_options.port = metrics_port;
    rs::broker::BrokerMetrics& metrics = loop.metrics();
    rs::metrics::add_readiness_metric(metrics.registry(), [&metrics] { return metrics.readiness(); });
    auto server = rs::metrics::MetricsServer::start(metrics_options, metrics.registry(),
                                                    [&metrics] { return metrics.readiness(); });
    if (!server.ok()) {
      std::fprintf(stderr, "error: --metrics-port: %s\n", server.status().to_string().c_str());
      return 1;
    }
    metrics_server = std::move(server).value();
  }
  std::printf("client_endpoint %s\nworker_endpoint %s\n", loop.client_endpoint().c_str(),
              loop.worker_endpoint().c_str());
  if (metrics_server) {
    std::printf("metrics_url http://%s:%d\n", metrics_options.host.c_str(), metrics_server->port());
  }
  std::fflush(stdout);
  g_loop = &loop;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_sighup);
  rs::Status s = loop.run();
  g_loop = nullptr;
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.to_string().c_str());
    return 1;
  }
  return 0;
}
