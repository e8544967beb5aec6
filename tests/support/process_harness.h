// Pool: a whole ringserve pool of real processes for integration tests: a private
// redis-server (RedisServer), `ringserve-broker` on 127.0.0.1 ephemeral ports and N
// `ringserve-worker` processes, each logging stderr under the pool's temp dir. Helpers:
// wait until K devices are up (rs::client::Client::workers()), clients, the job store,
// kill -9 a worker. synthetic_model() makes a tiny byte-level GGUF once per process.
// Test thread only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_process.h"
#include "redis_server.h"
#include "rs/client/client.h"
#include "rs/store/job_store.h"
#include "rs/store/redis_connection.h"
#include "rs/store/token_log.h"
#include "test_paths.h"

namespace rs::test {

inline std::string program(const std::string& name) { return bin_dir() + "/" + name; }

// A tiny synthetic model (dim 64, 2 layers, byte-level tokenizer), made once per process
// with `ringserve-model synth`. "" if it could not be made.
inline const std::string& synthetic_model() {
  static TempDir dir("rs-integ-model");
  static std::string path = [] {
    std::string out = dir.file("tiny.gguf");
    auto r = run_program({program("ringserve-model"), "synth", out, "--dim", "64", "--layers", "2",
                          "--heads", "4", "--kv-heads", "4", "--ffn", "128", "--ctx", "1024"},
                         dir.file("synth.log"), 60000);
    return r.has_value() ? out : std::string();
  }();
  return path;
}

// The direct engine run of one request: `ringserve-model generate --json`; generated ids.
inline std::optional<std::vector<int32_t>> direct_generate(const std::string& model_file,
                                                           const std::string& prompt,
                                                           int max_tokens, float temperature,
                                                           uint64_t seed) {
  char temp[32];
  std::snprintf(temp, sizeof temp, "%.9g", static_cast<double>(temperature));
  auto out = run_program({program("ringserve-model"), "generate", model_file, prompt, "-n",
                          std::to_string(max_tokens), "--temp", temp, "--seed",
                          std::to_string(seed), "--threads", "1", "--json"},
                         "", 60000);
  if (!out) return std::nullopt;
  // --json prints one JSON line at the end (the text inside is escaped: no raw newline).
  size_t end = out->find_last_not_of('\n');
  if (end == std::string::npos) return std::nullopt;
  size_t begin = out->rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  try {
    return nlohmann::json::parse(out->substr(begin, end + 1 - begin))
        .at("generated_ids")
        .get<std::vector<int32_t>>();
  } catch (...) {
    return std::nullopt;
  }
}

// A slower synthetic model (dim 256, 4 layers, ctx 2048) for tests that need jobs to
// outlive their own submission (hot keys, kill -9, cancel, late subscribers). Once per
// process; "" if it could not be made.
inline const std::string& medium_model() {
  static TempDir dir("rs-integ-medium");
  static std::string path = [] {
    std::string out = dir.file("medium.gguf");
    auto r = run_program({program("ringserve-model"), "synth", out, "--dim", "256", "--layers", "4",
                          "--heads", "4", "--kv-heads", "4", "--ffn", "512", "--ctx", "2048"},
                         dir.file("synth.log"), 60000);
    return r.has_value() ? out : std::string();
  }();
  return path;
}

// A prompt whose greedy run on `model_file` does not stop before n_tokens (no early EOS),
// with that run's ids; nullopt if none of a few candidates qualifies.
inline std::optional<std::pair<std::string, std::vector<int32_t>>> long_greedy_prompt(
    const std::string& model_file, int n_tokens) {
  for (const char* candidate : {"a long story about rings", "hot key", "ring ring", "x", "once upon"}) {
    auto ids = direct_generate(model_file, candidate, n_tokens, 0.0f, 0);
    if (ids && ids->size() == static_cast<size_t>(n_tokens)) return std::make_pair(std::string(candidate), *ids);
  }
  return std::nullopt;
}

inline schemas::SubmitRequest make_request(const std::string& model, const std::string& prompt,
                                          uint32_t max_tokens, float temperature = 0.0f,
                                          uint64_t seed = 0) {
  schemas::SubmitRequest r;
  r.model = model;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  return r;
}

// A job waited to its end through rs_client: its DONE record and every token in order.
struct FinishedJob {
  Status status;  // wait()'s error, if any
  schemas::JobRecord record;
  std::vector<schemas::TokenEntry> tokens;
  std::vector<int32_t> ids() const {
    std::vector<int32_t> out;
    for (const auto& t : tokens) out.push_back(t.token);
    return out;
  }
};
inline FinishedJob wait_job(client::Client& c, const std::string& job_id, int timeout_ms = 60000) {
  FinishedJob f;
  auto r = c.wait(job_id, [&](const schemas::TokenEntry& e) { f.tokens.push_back(e); }, timeout_ms);
  if (r.ok()) {
    f.record = *r;
  } else {
    f.status = r.status();
  }
  return f;
}

struct PoolOptions {
  int workers = 2;
  int devices = 2;                    // per worker
  std::string model_file;             // "" = synthetic_model()
  std::string model_name = "tiny";
  int heartbeat_ms = 0;               // 0 = the programs' default; else broker and workers
  int threads = 1;                    // matmul threads per device
  std::vector<std::string> broker_args;  // extra flags, e.g. {"--max-queued", "4"}
  std::vector<std::string> worker_args;  // extra flags for every worker
  // Registry mode: workers get `--redis <the pool's> --serve NAME...` instead of --model
  // (an empty list with registry = true serves every name).
  bool registry = false;
  std::vector<std::string> serve;
  int start_timeout_ms = 30000;
};

class Pool {
 public:
  explicit Pool(PoolOptions options = {}) : options_(std::move(options)) {
    if (options_.model_file.empty()) options_.model_file = synthetic_model();
  }
  ~Pool() {
    if (::testing::Test::HasFailure()) dump_logs();
    for (auto& w : workers_) w.process->terminate(2000);
    if (broker_) broker_->terminate(2000);
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Everything needed to run (redis-server, the programs, the model); a reason if not.
  std::optional<std::string> missing() const {
    if (!RedisServer::available()) return "no redis-server at " + RedisServer::binary();
    for (const char* p : {"ringserve-broker", "ringserve-worker", "ringserve-model"}) {
      if (::access(program(p).c_str(), X_OK) != 0) return "program not built: " + program(p);
    }
    if (options_.model_file.empty()) return std::string("could not synthesize a model");
    return std::nullopt;
  }

  // Redis, the broker, options.workers workers (ids w1, w2, ...), and all their devices up.
  bool start() { return start_redis() && start_broker() && start_workers(); }

  // options.workers workers (w1, w2, ...) and all their devices up.
  bool start_workers() {
    for (int i = 0; i < options_.workers; ++i) {
      std::string id = "w";
      id += std::to_string(i + 1);  // (not "w" + ...: GCC 12 -Wrestrict false positive)
      if (add_worker(id) < 0) return false;
    }
    return wait_devices(static_cast<size_t>(options_.workers * options_.devices),
                        options_.start_timeout_ms);
  }

  bool start_redis() { return redis_.start(); }
  // The pool's redis-server (kill, restart, pause it; set_aof before start()).
  RedisServer& redis_server() { return redis_; }

  bool start_broker() { return launch_broker({}, "broker.log"); }

  // kill -9 of the broker (no goodbye: workers see their links drop).
  void kill_broker() { broker_->kill_hard(); }
  // A new broker on the endpoints of the first one (after kill_broker), with the same
  // flags plus `extra`; its log is broker-<n>.log.
  bool restart_broker(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--client-endpoint", client_endpoint_, "--worker-endpoint",
                                      worker_endpoint_};
    args.insert(args.end(), extra.begin(), extra.end());
    return launch_broker(args, "broker-" + std::to_string(++broker_restarts_ + 1) + ".log");
  }

  bool launch_broker(const std::vector<std::string>& extra, const std::string& log) {
    std::vector<std::string> argv = {program("ringserve-broker"), "--redis",
                                     "127.0.0.1:" + std::to_string(redis_.port()),
                                     "--log-level", "info"};
    if (options_.heartbeat_ms > 0) {
      argv.insert(argv.end(), {"--heartbeat-ms", std::to_string(options_.heartbeat_ms)});
    }
    argv.insert(argv.end(), options_.broker_args.begin(), options_.broker_args.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    // Plain ZeroMQ on loopback unless the test gives the broker CURVE keys.
    if (std::find(argv.begin(), argv.end(), "--curve-key") == argv.end()) argv.push_back("--insecure");
    broker_ = std::make_unique<ChildProcess>();
    if (!broker_->start(argv, dir_.file(log))) return false;
    auto c = broker_->wait_for_line("client_endpoint ", options_.start_timeout_ms);
    auto w = broker_->wait_for_line("worker_endpoint ", options_.start_timeout_ms);
    if (!c || !w) return false;
    client_endpoint_ = c->substr(std::string("client_endpoint ").size());
    worker_endpoint_ = w->substr(std::string("worker_endpoint ").size());
    return true;
  }

  // Starts one worker (options.worker_args, then `extra`); waits for its "ready worker=<id>"
  // line. Its index, or -1.
  int add_worker(const std::string& id, int devices = 0, const std::vector<std::string>& extra = {}) {
    if (devices <= 0) devices = options_.devices;
    std::vector<std::string> argv = {program("ringserve-worker"), "--broker", worker_endpoint_,
                                     "--devices", std::to_string(devices),
                                     "--threads", std::to_string(options_.threads),
                                     "--worker-id", id, "--log-level", "warn"};
    if (options_.registry) {
      argv.insert(argv.end(), {"--redis", redis_address()});
      for (const std::string& name : options_.serve) argv.insert(argv.end(), {"--serve", name});
    } else {
      argv.insert(argv.end(), {"--model", options_.model_file, "--model-name", options_.model_name});
    }
    if (options_.heartbeat_ms > 0) {
      argv.insert(argv.end(), {"--heartbeat-ms", std::to_string(options_.heartbeat_ms)});
    }
    argv.insert(argv.end(), options_.worker_args.begin(), options_.worker_args.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    Worker w{id, devices, std::make_unique<ChildProcess>()};
    if (!w.process->start(argv, dir_.file("worker-" + id + ".log"))) return -1;
    if (!w.process->wait_for_line("ready worker=" + id, options_.start_timeout_ms)) return -1;
    workers_.push_back(std::move(w));
    return static_cast<int>(workers_.size()) - 1;
  }

  // kill -9 of worker i (no DISCONNECT: the broker finds out by missed heartbeats).
  void kill_worker(size_t i) { workers_.at(i).process->kill_hard(); }
  // SIGTERM of worker i (a clean stop: DISCONNECT).
  bool stop_worker(size_t i) { return workers_.at(i).process->terminate(5000); }
  const std::string& worker_id(size_t i) const { return workers_.at(i).id; }
  ChildProcess& worker_process(size_t i) { return *workers_.at(i).process; }
  ChildProcess& broker_process() { return *broker_; }

  Result<std::unique_ptr<client::Client>> connect(int request_timeout_ms = 5000) const {
    client::ClientOptions o;
    o.endpoint = client_endpoint_;
    o.request_timeout_ms = request_timeout_ms;
    return client::Client::connect(std::move(o));
  }

  // The devices the broker lists now (empty on error).
  std::vector<schemas::DeviceStatus> devices() {
    if (!probe_) {
      auto c = connect(2000);
      if (!c.ok()) return {};
      probe_ = std::move(c).value();
    }
    auto d = probe_->workers();
    return d.ok() ? *d : std::vector<schemas::DeviceStatus>{};
  }

  // Polls workers() until exactly `count` devices are listed (bounded).
  bool wait_devices(size_t count, int timeout_ms) {
    return poll_until(timeout_ms, [&] { return devices().size() == count; });
  }

  // A job store on the pool's Redis (the broker's default key prefix "rs:").
  store::JobStore& job_store() {
    ensure_redis();
    return *jobs_;
  }
  store::TokenLog& token_log() {
    ensure_redis();
    return *tokens_;
  }

  const std::string& client_endpoint() const { return client_endpoint_; }
  const std::string& worker_endpoint() const { return worker_endpoint_; }
  const std::string& model_name() const { return options_.model_name; }
  const std::string& model_file() const { return options_.model_file; }
  int redis_port() const { return redis_.port(); }
  std::string redis_address() const { return "127.0.0.1:" + std::to_string(redis_.port()); }
  // A connection to the pool's Redis (for registry reads in tests).
  store::RedisConnection& redis() {
    ensure_redis();
    return *conn_;
  }
  TempDir& dir() { return dir_; }

  // Prints the tail of every log (called on failure).
  void dump_logs() const {
    std::fprintf(stderr, "---- broker.log ----\n%s", file_tail(dir_.file("broker.log")).c_str());
    for (int n = 2; n <= broker_restarts_ + 1; ++n) {
      const std::string log = "broker-" + std::to_string(n) + ".log";
      std::fprintf(stderr, "---- %s ----\n%s", log.c_str(), file_tail(dir_.file(log)).c_str());
    }
    for (const auto& w : workers_) {
      std::string f = dir_.file("worker-" + w.id + ".log");
      std::fprintf(stderr, "---- worker-%s.log ----\n%s", w.id.c_str(), file_tail(f).c_str());
    }
  }

  // Polls `done` every 10 ms for at most timeout_ms.
  template <typename F>
  static bool poll_until(int timeout_ms, F&& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (done()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  struct Worker {
    std::string id;
    int devices = 0;
    std::unique_ptr<ChildProcess> process;
  };
  void ensure_redis() {
    if (conn_) return;
    store::RedisOptions ro;
    ro.port = redis_.port();
    conn_ = std::make_unique<store::RedisConnection>(ro);
    jobs_ = std::make_unique<store::JobStore>(*conn_);
    tokens_ = std::make_unique<store::TokenLog>(*conn_);
  }

  PoolOptions options_;
  TempDir dir_;
  RedisServer redis_;
  std::unique_ptr<ChildProcess> broker_;
  int broker_restarts_ = 0;
  std::vector<Worker> workers_;
  std::string client_endpoint_;
  std::string worker_endpoint_;
  std::unique_ptr<client::Client> probe_;
  std::unique_ptr<store::RedisConnection> conn_;
  std::unique_ptr<store::JobStore> jobs_;
  std::unique_ptr<store::TokenLog> tokens_;
};

}  // namespace rs::test

// Skips the test when the pool cannot run here (no redis-server, a program not built),
// or fails it under CI=true.
#define RS_REQUIRE_POOL(pool)                                                   \
  do {                                                                          \
    if (auto why = (pool).missing()) {                                          \
      if (::rs::test::in_ci()) FAIL() << "pool cannot run under CI: " << *why;  \
      GTEST_SKIP() << *why;                                                     \
    }                                                                           \
  } while (0)
