// ringserve-worker: loads a model, starts --devices engine threads sharing it, connects to
// the broker's worker endpoint and serves jobs until SIGINT / SIGTERM. Prints one line
// "ready worker=<id> devices=<N> model=<name>" once the first READY is sent.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>

#include "rs/core/log.h"
#include "rs/engine/model.h"
#include "rs/worker/io/worker_loop.h"

namespace {

std::atomic<rs::worker::io::WorkerLoop*> g_loop{nullptr};
volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_signal(int) {
  g_stop = 1;
  if (auto* loop = g_loop.load()) loop->request_stop();
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringserve-worker: hosts engine devices and serves the broker's jobs"};
  rs::worker::io::WorkerOptions o;
  std::string model_file;
  std::string log_level = "info";
  app.add_option("--broker", o.broker_endpoint, "the broker's worker endpoint")->required();
  app.add_option("--model", model_file, "GGUF model file")->required();
  app.add_option("--model-name", o.model_name, "model name for routing (default: the file's stem)");
  app.add_option("--devices", o.devices, "engine instances (each its own thread)")->check(CLI::Range(1, 256));
  app.add_option("--threads", o.threads_per_device, "matmul threads per device")->check(CLI::Range(1, 1024));
  app.add_option("--worker-id", o.worker_id, "worker id (default w-<hostname>-<pid>)");
  app.add_option("--max-batch-size", o.max_batch_size, "sequences per engine step")->check(CLI::PositiveNumber);
  app.add_option("--max-batch-tokens", o.max_batch_tokens, "tokens per engine step")->check(CLI::PositiveNumber);
  app.add_option("--batch-timeout-ms", o.batch_timeout_ms, "idle engine waits this long for company")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kv-blocks", o.kv_blocks, "KV blocks per device (default: the engine's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--heartbeat-ms", o.heartbeat_ms, "heartbeat interval (match the broker's)")
      ->check(CLI::PositiveNumber);
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  CLI11_PARSE(app, argc, argv);
  rs::init_logging(log_level);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (o.worker_id.empty()) o.worker_id = default_worker_id();
  if (o.model_name.empty()) o.model_name = std::filesystem::path(model_file).stem().string();
  auto model = rs::engine::Model::load(model_file);
  if (!model.ok()) return fail("cannot load model " + model_file + ": " + model.status().to_string());

  zmq::context_t context(1);
  {
    rs::worker::io::WorkerLoop loop(context, std::move(model).value(), o);
    if (rs::Status s = loop.start(); !s.ok()) return fail(s.to_string());
    g_loop.store(&loop);
    if (g_stop != 0) loop.request_stop();
    std::printf("ready worker=%s devices=%d model=%s\n", loop.worker_id().c_str(), o.devices,
                o.model_name.c_str());
    std::fflush(stdout);
    rs::Status s = loop.run();
    g_loop.store(nullptr);
    if (!s.ok()) return fail(s.to_string());
  }
  return 0;
}
