// ringserve-worker: starts --devices engine threads and serves the broker's jobs until SIGINT /
// SIGTERM, which drain it: no new jobs, the running ones get --grace-ms to finish, the rest
// are handed back to the broker, then WORKER_DISCONNECT and exit 0 (a second signal ends the
// grace at once). File mode (--model FILE): every device serves that model under --model-name.
// Registry mode (--redis HOST:PORT): the devices serve the active and canary versions of the
// --serve names (all names by default), following the registry (docs/ARCHITECTURE.md
// "Models on a worker"). Prints one line "ready worker=<id> devices=<N> model=<keys>" once
// the first READY is sent.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

#include "rs/core/log.h"
#include "rs/metrics/metrics_server.h"
#include "rs/store/redis_auth.h"
#include "rs/store/redis_connection.h"
#include "rs/engine/model.h"
#include "rs/worker/io/worker_loop.h"

namespace {

std::atomic<rs::worker::io::WorkerLoop*> g_loop{nullptr};
std::atomic<int> g_early_signals{0};  // signals before the loop ran (replayed as drains)

// SIGINT / SIGTERM: drain (the first), end the grace now (the second). Async-signal-safe:
// lock-free atomics only.
extern "C" void on_signal(int) {
  if (auto* loop = g_loop.load()) {
    loop->request_drain();
  } else {
    g_early_signals.fetch_add(1);
  }
}

std::string default_worker_id() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof(host), "host");
  return "w-" + std::string(host) + "-" + std::to_string(static_cast<long>(getpid()));
}

int fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

struct Flags {
  std::string model_file;
  std::string chat_template_file;
  std::string redis;
  std::string redis_user;
  std::string redis_password_file;
  std::vector<std::string> serve;
  uint64_t max_model_bytes = 0;
  int registry_poll_ms = 1000;
  bool no_subscribe = false;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string kv_cache_type = "f16";
  int step_delay_ms = 0;
  int metrics_port = -1;
  std::string metrics_host = "127.0.0.1";
  std::string stall_file;
  std::string curve_key;   // CURVE: this worker's key file
  std::string broker_key;  // CURVE: the broker's public key file
};

void add_flags(CLI::App& app, rs::worker::io::WorkerOptions& o, Flags& f) {
  app.add_option("--broker", o.broker_endpoint, "the broker's worker endpoint")->required();
  auto* model = app.add_option("--model", f.model_file, "GGUF model file (file mode)");
  auto* redis = app.add_option("--redis", f.redis,
                               "registry mode: Redis HOST:PORT of the model registry, or "
                               "redis://USER:PASSWORD@HOST:PORT (a URL's password shows in ps)");
  model->excludes(redis);
  app.add_option("--redis-user", f.redis_user, "registry mode: Redis ACL user (e.g. worker; docs/REDIS.md)")
      ->needs(redis);
  app.add_option("--redis-password-file", f.redis_password_file,
                 "registry mode: file whose first line is the Redis password")
      ->needs(redis);
  app.add_option("--chat-template", f.chat_template_file,
                 "file mode: a Jinja chat template file, replacing the GGUF's tokenizer.chat_template")
      ->check(CLI::ExistingFile);
  app.add_option("--model-name", o.model_name, "file mode: model name for routing (default: the file's stem)");
  app.add_option("--serve", f.serve, "registry mode: a model name to serve (repeatable; default: all)")
      ->needs(redis);
  app.add_option("--max-model-bytes", f.max_model_bytes,
                 "registry mode: sum of the model file sizes held at once (0: unlimited)")
      ->needs(redis);
  app.add_option("--registry-poll-ms", f.registry_poll_ms, "registry mode: registry epoch poll interval")
      ->check(CLI::PositiveNumber)->needs(redis);
  app.add_flag("--no-subscribe", f.no_subscribe, "registry mode: poll the registry only (no pub/sub)")
      ->needs(redis);
  app.add_option("--devices", o.devices, "engine instances (each its own thread)")->check(CLI::Range(1, 256));
  app.add_option("--threads", o.threads_per_device, "matmul threads per device")->check(CLI::Range(1, 1024));
  app.add_option("--worker-id", o.worker_id, "worker id (default: the key's name, else w-<hostname>-<pid>)");
  app.add_option("--curve-key", f.curve_key, "CURVE: this worker's key file (ringserve keys zmq new --role worker)");
  app.add_option("--broker-key", f.broker_key, "CURVE: the broker's public key file (var/keys/broker.pub)");
  app.add_option("--max-batch-size", o.max_batch_size, "sequences per engine step")->check(CLI::PositiveNumber);
  app.add_option("--max-batch-tokens", o.max_batch_tokens, "tokens per engine step")->check(CLI::PositiveNumber);
  app.add_option("--batch-timeout-ms", o.batch_timeout_ms, "idle engine waits this long for company")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kv-blocks", o.kv_blocks, "KV blocks per device (default: the engine's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kv-cache-type", f.kv_cache_type, "K/V cache element type: f16 (default: half the memory) or f32")
      ->check(CLI::IsMember({"f16", "f32"}));
  app.add_option("--heartbeat-ms", o.heartbeat_ms, "heartbeat interval (match the broker's)")
      ->check(CLI::PositiveNumber);
  app.add_option("--grace-ms", o.grace_ms,
                 "on SIGTERM/SIGINT, how long running jobs may take to finish before they are handed "
                 "back to the broker (default 30000)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--log-level", f.log_level, "trace|debug|info|warn|error|off");
  app.add_option("--log-format", f.log_format, "text (default) or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--step-delay-ms", f.step_delay_ms,
                 "TESTING ONLY: each device sleeps this long before every engine step (slow, steady "
                 "streams for disconnect and resume tests)")
      ->check(CLI::Range(0, 10000));
  app.add_option("--metrics-port", f.metrics_port,
                 "serve /metrics, /healthz and /readyz on this port (0 = any free port; default: none)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--metrics-host", f.metrics_host, "the metrics port's IPv4 address");
  app.add_option("--stall-while-file", f.stall_file,
                 "TESTING ONLY: while this file exists, each engine thread holds before its next "
                 "step (a stalled engine: the worker falls silent and /readyz says engine_stalled)");
  app.add_option("--fail-on-prompt", o.fail_on_prompt,
                 "TESTING/CHAOS ONLY (repeatable): a job whose prompt contains this string fails on "
                 "the device with an engine error (WORKER_FAILED internal, retried by the broker)");
  // A single-valued option given twice (e.g. defaults, then a test's or operator's
  // override): the last one wins. --serve and --fail-on-prompt collect every occurrence.
  for (CLI::Option* opt : app.get_options()) {
    if (!opt->check_name("--serve") && !opt->check_name("--fail-on-prompt") && !opt->check_name("--help")) {
      opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }
}

std::string join(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ",") + k;
  return out;
}

int serve(zmq::context_t& context, std::shared_ptr<const rs::engine::Model> model,
          rs::worker::io::WorkerOptions o, const Flags& f) {
  const std::string id = o.worker_id;
  const int devices = o.devices;
  bool printed = false;
  o.on_ready = [&printed, id, devices](const std::vector<std::string>& keys) {
    if (printed) return;
    printed = true;
    std::printf("ready worker=%s devices=%d model=%s\n", id.c_str(), devices, join(keys).c_str());
    std::fflush(stdout);
  };
  std::optional<rs::worker::io::WorkerLoop> loop;
  if (model != nullptr) {
    loop.emplace(context, std::move(model), std::move(o));
  } else {
    loop.emplace(context, std::move(o));
  }
  std::unique_ptr<rs::metrics::MetricsServer> metrics_server;
  if (f.metrics_port >= 0) {
    rs::worker::io::WorkerLoop* l = &*loop;
    rs::metrics::add_readiness_metric(l->metrics().registry(), [l] { return l->readiness(); });
    auto server = rs::metrics::MetricsServer::start({.host = f.metrics_host, .port = f.metrics_port},
                                                    l->metrics().registry(),
                                                    [l] { return l->readiness(); });
    if (!server.ok()) return fail("--metrics-port: " + server.status().to_string());
    metrics_server = std::move(server).value();
    std::printf("metrics_url http://%s:%d\n", f.metrics_host.c_str(), metrics_server->port());
    std::fflush(stdout);
  }
  if (rs::Status s = loop->start(); !s.ok()) return fail(s.to_string());
  g_loop.store(&*loop);
  for (int n = std::min(g_early_signals.exchange(0), 2); n > 0; --n) loop->request_drain();
  rs::Status s = loop->run();
  g_loop.store(nullptr);
  if (!s.ok()) return fail(s.to_string());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringserve-worker: hosts engine devices and serves the broker's jobs"};
  rs::worker::io::WorkerOptions o;
  Flags f;
  add_flags(app, o, f);
  CLI11_PARSE(app, argc, argv);
  if (f.curve_key.empty() != f.broker_key.empty()) return fail("CURVE needs both --curve-key and --broker-key");
  if (!f.curve_key.empty()) {
    auto keys = rs::wire::load_curve_client_keys(f.curve_key, f.broker_key);
    if (!keys.ok()) return fail(keys.status().to_string());
    auto named = rs::wire::read_curve_key_file(f.curve_key);
    if (!named.ok() || named->name.empty()) return fail(f.curve_key + ": the key file names no worker");
    if (!o.worker_id.empty() && o.worker_id != named->name) {
      return fail("--worker-id " + o.worker_id + " is not the key's name '" + named->name +
                  "': under CURVE a worker's id is the name its key was issued under");
    }
    o.worker_id = named->name;
    o.curve = *keys;
  }
  if (o.worker_id.empty()) o.worker_id = default_worker_id();
  rs::set_log_field("worker", o.worker_id);
  rs::init_logging(f.log_level, f.log_format, "worker");
  o.kv_cache_type = rs::engine::parse_kv_cache_type(f.kv_cache_type).value_or(rs::engine::KvCacheType::kF16);
  if (f.model_file.empty() == f.redis.empty()) return fail("give exactly one of --model FILE or --redis HOST:PORT");
  if (!f.chat_template_file.empty() && f.model_file.empty()) {
    return fail("--chat-template is for --model FILE (a registry version has its own: ringserve models add --chat-template)");
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (f.step_delay_ms > 0 || !f.stall_file.empty()) {
    const int delay_ms = f.step_delay_ms;
    const std::string stall_file = f.stall_file;
    o.before_step = [delay_ms, stall_file](int) {
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      std::error_code ec;
      while (!stall_file.empty() && std::filesystem::exists(stall_file, ec)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    };
  }
  std::shared_ptr<const rs::engine::Model> model;
  if (!f.model_file.empty()) {
    if (o.model_name.empty()) o.model_name = std::filesystem::path(f.model_file).stem().string();
    rs::engine::ModelOptions model_options;
    if (!f.chat_template_file.empty()) {
      std::ifstream in(f.chat_template_file, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      if (!in) return fail("cannot read --chat-template " + f.chat_template_file);
      model_options.chat_template = text.str();
    }
    const auto load_start = std::chrono::steady_clock::now();
    auto loaded = rs::engine::Model::load(f.model_file, model_options);
    o.model_load_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
    if (!loaded.ok()) return fail("cannot load model " + f.model_file + ": " + loaded.status().to_string());
    model = std::move(loaded).value();
    if (model->chat_template() == nullptr) {
      spdlog::warn("model {}: no chat: {}", f.model_file, model->chat_template_error());
    }
  } else {
    rs::worker::models::ModelManagerOptions r;
    auto redis_options = rs::store::startup_redis_options(
        {.address = f.redis, .user = f.redis_user, .password_file = f.redis_password_file});
    if (!redis_options.ok()) return fail("--redis: " + redis_options.status().to_string());
    r.redis = *redis_options;
    r.serve = f.serve;
    r.max_model_bytes = f.max_model_bytes;
    r.poll_ms = f.registry_poll_ms;
    r.subscribe = !f.no_subscribe;
    o.registry = std::move(r);
  }
  zmq::context_t context(1);
  return serve(context, std::move(model), std::move(o), f);
}
