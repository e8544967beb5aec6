#include "up_command.h"

#include <signal.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "up_pool.h"

namespace rs::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) {
  g_stop = 1;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

struct UpFlags {
  UpOptions options;
  bool json = false;
  std::string max_batch_size, max_batch_tokens, batch_timeout_ms, kv_blocks, kv_cache_type, max_model_bytes;
  std::string step_delay_ms;
};

void print_ready(const Pool& pool, const UpFlags& flags) {
  const PoolInfo& info = pool.info();
  if (flags.json) {
    nlohmann::json j = {{"client_endpoint", info.client_endpoint},
                        {"worker_endpoint", info.worker_endpoint},
                        {"redis", info.redis},
                        {"workers", info.workers},
                        {"devices", info.devices},
                        {"model", info.model},
                        {"model_path", info.model_path},
                        {"endpoint_file", info.endpoint_file},
                        {"redis_file", info.redis_file},
                        {"serve", info.serve},
                        {"http_url", info.http_url},
                        {"http_file", info.http_file},
                        {"api_key_file", info.api_key_file}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("\npool ready: %d worker%s, %d device%s, %s %s\n", info.workers,
                info.workers == 1 ? "" : "s", info.devices, info.devices == 1 ? "" : "s",
                info.serve.empty() ? "model" : "serving from the registry:", info.model.c_str());
    std::printf("redis %s (written to %s; ACL users in %s/redis.acl, passwords in %s/keys)\n",
                info.redis.c_str(), info.redis_file.c_str(),
                std::filesystem::path(info.redis_file).parent_path().c_str(),
                std::filesystem::path(info.redis_file).parent_path().c_str());
    std::printf("client endpoint %s (written to %s)\n", info.client_endpoint.c_str(),
                info.endpoint_file.c_str());
    std::error_code ec;
    bool default_var = std::filesystem::equivalent(info.endpoint_file, "var/endpoint", ec);
    std::string env = default_var ? "" : "RINGSERVE_BROKER=" + info.client_endpoint + " ";
    if (!info.serve.empty()) {
      const std::string var = std::filesystem::path(info.redis_file).parent_path().string();
      std::string redis_env = default_var ? ""
                                          : "RINGSERVE_REDIS=" + info.redis +
                                                " RINGSERVE_REDIS_USER=cli RINGSERVE_REDIS_PASSWORD_FILE=" +
                                                var + "/keys/redis-cli.password ";
      std::printf("add a version:  %sringserve models add %s FILE.gguf --activate\n",
                  redis_env.c_str(), info.serve.front().c_str());
    }
    std::printf("try:  %sringserve submit --stream \"Once upon a time\"   (in another terminal)\n",
                env.c_str());
    std::printf("      %sringserve workers\n", env.c_str());
    if (!info.http_url.empty()) {
      const std::string model = info.serve.empty() ? info.model : info.serve.front();
      std::printf("\nHTTP (OpenAI API) %s (written to %s; an API key for tenant 'local' in %s)\n",
                  info.http_url.c_str(), info.http_file.c_str(), info.api_key_file.c_str());
      // A self-signed certificate (the usual one for a local pool) needs --cacert.
      const std::string cacert = info.http_tls_cert.empty() ? "" : "--cacert " + info.http_tls_cert + " ";
      std::printf("  curl %s%s/v1/completions -H \"Authorization: Bearer $(cat %s)\" \\\n"
                  "    -H 'Content-Type: application/json' \\\n"
                  "    -d '{\"model\": \"%s\", \"prompt\": \"Once upon a time\", \"max_tokens\": 32}'\n",
                  cacert.c_str(), info.http_url.c_str(), info.api_key_file.c_str(), model.c_str());
      std::printf("  OpenAI SDK:  new OpenAI({baseURL: '%s/v1', apiKey: fs.readFileSync('%s', 'utf8').trim()})\n",
                  info.http_url.c_str(), info.api_key_file.c_str());
    }
    std::printf("Ctrl-C stops the pool.\n");
  }
  std::fflush(stdout);
}

// Serves until a stop signal (exit 0), restarting children that die meanwhile.
int serve(Pool& pool, const UpFlags& flags) {
  print_ready(pool, flags);
  while (g_stop == 0) {
    pool.supervise();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!flags.json) std::printf("\nstopping: gateway, workers, broker, redis\n");
  pool.stop();
  if (!flags.json) std::printf("stopped\n");
  std::fflush(stdout);
  return 0;
}

int run_up(UpFlags& flags) {
  UpOptions options = flags.options;
  options.quiet = flags.json;
  auto knob = [&](const char* name, const std::string& value) {
    if (!value.empty()) options.worker_args.insert(options.worker_args.end(), {name, value});
  };
  knob("--max-batch-size", flags.max_batch_size);
  knob("--max-batch-tokens", flags.max_batch_tokens);
  knob("--batch-timeout-ms", flags.batch_timeout_ms);
  knob("--kv-blocks", flags.kv_blocks);
  knob("--kv-cache-type", flags.kv_cache_type);
  knob("--max-model-bytes", flags.max_model_bytes);
  knob("--step-delay-ms", flags.step_delay_ms);
  g_stop = 0;
  install_signal_handlers();
  Pool pool(options, &g_stop);
  if (Status s = pool.start(); !s.ok()) {
    bool interrupted = s.code() == StatusCode::kCancelled;
    if (!interrupted) std::fprintf(stderr, "error: ringserve up: %s\n", s.message().c_str());
    pool.stop();
    return interrupted ? 130 : 1;
  }
  return serve(pool, flags);
}

}  // namespace

void add_up_command(CLI::App& app) {
  auto flags = std::make_shared<UpFlags>();
  UpOptions& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "up", "Start a pool here (redis-server, broker, workers) and serve until Ctrl-C");
  cmd->add_option("--workers", o.workers, "Worker processes")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--devices", o.devices, "Engine instances (devices) per worker")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  CLI::Option* model = cmd->add_option(
      "--model", o.model, "GGUF model file (default: a small synthetic model made once in VAR/models)");
  CLI::Option* model_name = cmd->add_option(
      "--model-name", o.model_name, "Name jobs use for the model (default: synth, or the worker's)");
  CLI::Option* serve =
      cmd->add_option("--serve", o.serve,
                      "Registry mode: workers serve this model name's active version from the "
                      "registry in the pool's Redis (repeatable; instead of --model)");
  CLI::Option* chat_template = cmd->add_option(
      "--chat-template", o.chat_template,
      "Jinja chat template file for the model (replaces its own; with --serve use `ringserve models add --chat-template`)");
  chat_template->check(CLI::ExistingFile);
  serve->excludes(model)->excludes(model_name)->excludes(chat_template);
  cmd->add_option("--max-model-bytes", flags->max_model_bytes,
                  "With --serve: worker knob, model file bytes a worker may hold (passed through)")
      ->check(CLI::NonNegativeNumber)
      ->needs(serve);
  cmd->add_option("--var", o.var_dir,
                  "Directory for the endpoint file, logs, Redis data and models")
      ->capture_default_str();
  cmd->add_option("--http-port", o.http_port, "The HTTP gateway's port (default: a free loopback port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_flag("--no-gateway", [&o](int64_t) { o.gateway = false; }, "Do not start the HTTP gateway");
  cmd->add_flag("--insecure", o.insecure,
                "Plain ZeroMQ on loopback (no CURVE keys; local development only)");
  auto* tls_cert = cmd->add_option("--gateway-tls-cert", o.gateway_tls_cert,
                                   "The gateway serves HTTPS with this PEM certificate chain");
  auto* tls_key = cmd->add_option("--gateway-tls-key", o.gateway_tls_key,
                                  "The gateway's PEM private key (with --gateway-tls-cert)");
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  cmd->add_option("--redis-port", o.redis_port,
                  "Port of the private redis-server (default: a free one)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--redis-fsync", o.redis_fsync,
                  "When Redis fsyncs its append-only file: always (no write lost), everysec (up "
                  "to a second lost on a machine crash), no (the OS decides)")
      ->check(CLI::IsMember({"always", "everysec", "no"}))
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "Matmul threads per device (default: the worker's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--start-timeout-ms", o.start_timeout_ms, "Time each start-up stage may take")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--log-format", o.log_format,
                  "The children's log format: text, or json (one object per line: ts, level, "
                  "program, msg, and job / worker / device where a line concerns them)")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--grace-ms", o.grace_ms, "Time a child has to stop after SIGTERM before SIGKILL")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-batch-size", flags->max_batch_size, "Worker knob (passed through)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-batch-tokens", flags->max_batch_tokens, "Worker knob (passed through)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch-timeout-ms", flags->batch_timeout_ms, "Worker knob (passed through)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--kv-blocks", flags->kv_blocks, "Worker knob (passed through)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--kv-cache-type", flags->kv_cache_type, "Worker knob (passed through): f16 or f32")
      ->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("--step-delay-ms", flags->step_delay_ms,
                  "Worker knob for tests and demos: sleep this long after each engine step")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", flags->json, "Print one JSON object when ready");
  cmd->callback([flags] {
    int code = run_up(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace rs::cli
