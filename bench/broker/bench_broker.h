// bench-broker: shared types. A run = one BrokerLoop (its own thread) over a private
// redis-server, workers (scripted DEALER threads or ringserve-worker processes) and K client
// threads each keeping up to W SUBMITs in flight. Every thread owns its own sockets; the
// results are merged after the threads are joined.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "rs/wire/curve.h"
#include "rs/wire/framing.h"

namespace rs::bench {

int64_t steady_ns();

struct ClientConfig {
  std::string endpoint;
  std::string model = "bench";
  int clients = 4;
  int window = 64;          // SUBMITs in flight per client
  uint32_t max_tokens = 8;  // tokens each job streams
  double rate_jobs_s = 0;   // total submit rate over all clients; 0 = as fast as answered
  double warmup_s = 0.5;
  double measure_s = 3;
  bool track_latency = false;
  wire::CurveClientKeys curve;  // --curve: every client connects with this (gateway-role) key
  wire::Framing framing = wire::Framing::kPacked;  // --three-frames: kFrames
};

// One client thread's view of a run (the measured window only).
struct ClientStats {
  uint64_t submitted = 0;
  uint64_t done = 0;
  uint64_t failed = 0;  // DONE not SUCCEEDED
  uint64_t rejected = 0;
  uint64_t tokens = 0;  // token entries received in TOKENS messages
  // job id -> DONE receipt (steady ns), when track_latency.
  std::unordered_map<std::string, int64_t> done_recv_ns;
};

struct RunResult {
  double seconds = 0;
  uint64_t submitted = 0, done = 0, failed = 0, rejected = 0, tokens = 0;
  std::vector<ClientStats> per_client;
  double jobs_s() const { return seconds > 0 ? static_cast<double>(done) / seconds : 0; }
  double tokens_s() const { return seconds > 0 ? static_cast<double>(tokens) / seconds : 0; }
};

// Runs the clients for warmup + measure seconds and returns what they saw.
RunResult run_clients(zmq::context_t& ctx, const ClientConfig& config);

// What a scripted worker records per job (when tracking latency): the broker's share
// before the worker (SUBMIT send -> DISPATCH receipt) and the WORKER_DONE send time.
struct WorkerJobTimes {
  int64_t to_dispatch_ns = 0;
  int64_t done_send_ns = 0;
};

struct ScriptedWorkerConfig {
  std::string endpoint;
  std::string id = "sw-0";
  std::string model = "bench";
  uint32_t devices = 4;
  uint32_t slots = 64;    // per device
  uint32_t n_tokens = 8;  // per job, all in one WORKER_TOKENS
  bool track_latency = false;
  wire::CurveClientKeys curve;                     // --curve: the key issued under `id`
  wire::Framing framing = wire::Framing::kPacked;  // --three-frames: kFrames
};

// An in-process worker: one DEALER thread answering each DISPATCH at once.
class ScriptedWorker {
 public:
  ScriptedWorker(zmq::context_t& ctx, ScriptedWorkerConfig config);
  ~ScriptedWorker();
  bool start();  // READY, then wait for the broker's acknowledgement
  void stop();
  // After stop(): job id -> times.
  const std::unordered_map<std::string, WorkerJobTimes>& times() const { return times_; }
  uint64_t jobs() const { return jobs_.load(std::memory_order_relaxed); }

 private:
  void run();

  zmq::context_t& ctx_;
  ScriptedWorkerConfig config_;
  std::atomic<bool> stop_{false};
  std::atomic<int> state_{0};  // 0 starting, 1 ready, -1 failed
  std::atomic<uint64_t> jobs_{0};
  std::unordered_map<std::string, WorkerJobTimes> times_;
  std::vector<std::string> token_texts_;
  std::thread thread_;
};

// Spawned ringserve-worker processes (kill on destruction).
class RealWorkers {
 public:
  ~RealWorkers();
  // Starts n processes of bin/ringserve-worker and waits for their "ready" lines.
  bool start(const std::string& bin_dir, const std::string& endpoint, const std::string& model_file,
             int n, int devices, int max_batch, std::string* error);
  void stop();

 private:
  std::vector<int> pids_;
  std::vector<int> fds_;  // their stdout pipes
};

// Makes the synthetic model with ringserve-model synth (reused if present).
bool synth_model(const std::string& bin_dir, const std::string& path, std::string* error);

// --batch-ttft (batch_ttft.cpp): interactive time-to-first-token on an idle pool vs during
// a batch appended to the ingest stream, on real ringserve-broker / ringserve-worker
// processes over a private redis-server.
struct BatchTtftOptions {
  std::string bin_dir;     // ringserve-broker / ringserve-worker; default: next to bench-broker
  std::string model_file;  // GGUF; default: the smallest model in /work/shared/models
  std::string out;         // JSON here; "" = stdout
  int n_workers = 1;
  int devices = 2;    // per worker
  int threads = 1;    // matmul threads per device
  int max_batch = 0;  // worker --max-batch-size; 0 = the worker's default
  int samples = 20;   // interactive jobs per phase
  uint32_t interactive_tokens = 8;
  int batch_jobs = 500;
  uint32_t batch_tokens = 64;
  int batch_timeout_s = 900;  // give up waiting for the batch after this
  bool quick = false;
  std::vector<std::string> broker_args;  // extra ringserve-broker flags
  std::vector<std::string> worker_args;  // extra ringserve-worker flags
};

// Runs both phases and writes the JSON and the summary line; 0 on success.
int run_batch_ttft(const BatchTtftOptions& options);

}  // namespace rs::bench
