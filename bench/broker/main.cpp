// bench-broker: the broker's throughput and added latency with job state in a real Redis.
// Starts a private redis-server, an in-process BrokerLoop on its own thread, workers
// (scripted in-process DEALERs, or ringserve-worker processes on a tiny synthetic model)
// and K client threads. Run 1: as fast as answered (peak jobs/s, streamed tokens/s).
// Run 2: at --load-fraction of that peak, timing the broker's share of each job. Writes
// JSON (stdout or --out) and one summary line at the end (stderr). --batch-ttft runs
// batch_ttft.cpp's mode instead (interactive TTFT idle vs during an ingest batch).
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench_broker.h"
#include "redis_server.h"
#include "rs/broker/loop/broker_loop.h"
#include "rs/core/log.h"

namespace {

using rs::bench::ClientConfig;
using rs::bench::RunResult;

struct Options {
  std::string workers = "scripted";
  int clients = 4;
  int latency_clients = 0;  // 0: as many as --clients
  int window = 64;
  uint32_t tokens = 8;
  double seconds = 3;
  double warmup_s = 0.5;
  double load_fraction = 0.5;
  bool quick = false;
  std::string out;
  int n_workers = 1;
  uint32_t devices = 4;
  uint32_t slots = 64;
  int max_batch = 16;
  std::string model_dir = "/tmp/rs-bench-broker";
  std::string log_level = "warn";
  std::string bin_dir;        // ringserve-worker / ringserve-model; default: next to bench-broker
  bool batch_ttft = false;    // --batch-ttft: run batch_ttft.cpp's mode instead
  bool three_frames = false;  // --three-frames: peers send [header, command, body] apart
  bool curve = false;         // --curve: CURVE on both sockets (scripted workers and clients)
};

// --curve: a broker key, one key per scripted worker and one gateway-role key for the
// clients, in a private directory (as `ringserve keys zmq new` makes them).
struct BenchKeys {
  std::string dir;
  rs::wire::CurveKeyPair broker;
  std::vector<rs::wire::CurveKeyPair> workers;
  rs::wire::CurveKeyPair client;

  bool make(int n_workers, std::string* error) {
    dir = "/tmp/rs-bench-broker-keys-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    auto pair = [&]() { return rs::wire::generate_curve_keypair(); };
    auto b = pair(), c = pair();
    if (!b.ok() || !c.ok()) return *error = "no CURVE in this libzmq", false;
    broker = *b;
    client = *c;
    std::string workers_allow, clients_allow = "gateway bench " + client.public_key + "\n";
    for (int i = 0; i < n_workers; ++i) {
      auto w = pair();
      if (!w.ok()) return false;
      workers.push_back(*w);
      workers_allow += "worker sw-" + std::to_string(i) + " " + w->public_key + "\n";
    }
    rs::wire::CurveKeyFile key{.role = "broker", .name = "broker", .keys = broker};
    return rs::wire::write_private_file(dir + "/broker.key", rs::wire::format_curve_key_file(key),
                                        0600)
               .ok() &&
           rs::wire::write_private_file(dir + "/workers.allow", workers_allow, 0600).ok() &&
           rs::wire::write_private_file(dir + "/clients.allow", clients_allow, 0600).ok();
  }
  rs::wire::CurveClientKeys for_worker(size_t i) const {
    return {.server_public_key = broker.public_key, .own = workers.at(i)};
  }
  rs::wire::CurveClientKeys for_clients() const {
    return {.server_public_key = broker.public_key, .own = client};
  }
  ~BenchKeys() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

// libzmq 4.3 takes a number as a context's thread-name prefix: its I/O threads are then
// named "<n>/ZMQbg/IO/<i>".
constexpr int kBrokerIoPrefixNumber = 7;
constexpr const char* kBrokerIoThreadPrefix = "7/ZMQbg/IO";

zmq::context_t named_context(int io_threads, int prefix_number) {
  zmq::context_t ctx(io_threads);
  zmq_ctx_set(ctx.handle(), ZMQ_THREAD_NAME_PREFIX, prefix_number);
  return ctx;
}

// CPU seconds used so far by a thread of this process (its clock id) or by a process.
double thread_cpu_s(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// CPU seconds used so far by this process's threads whose name starts with `prefix`
// (/proc/self/task/*/schedstat: nanoseconds on a CPU), e.g. the broker context's ZMQ I/O thread.
double named_threads_cpu_s(const std::string& prefix) {
  double total = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind(prefix, 0) != 0) continue;
    std::ifstream sched(task.path() / "schedstat");
    double ns = 0;
    if (sched >> ns) total += ns / 1e9;
  }
  return total;
}

double process_cpu_s(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14, 15: utime, stime (ticks)
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The redis-server child of this process (0 if none).
int redis_child_pid() {
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string line;
    std::getline(in, line);
    if (line.find("(redis-server)") == std::string::npos) continue;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == getpid()) return std::stoi(name);
  }
  return 0;
}

std::string self_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

nlohmann::json run_json(const RunResult& r) {
  return {{"seconds", r.seconds}, {"submitted", r.submitted}, {"done", r.done},
          {"failed", r.failed},   {"rejected", r.rejected},   {"tokens", r.tokens},
          {"jobs_s", r.jobs_s()}, {"tokens_s", r.tokens_s()}};
}

// Broker-added latency per job (us): worker's SUBMIT->DISPATCH share + DONE send->receipt.
nlohmann::json latency_json(const RunResult& r, const std::vector<rs::bench::ScriptedWorker*>& ws) {
  std::vector<double> us;
  for (const auto& c : r.per_client) {
    for (const auto& [job, recv_ns] : c.done_recv_ns) {
      for (const auto* w : ws) {
        auto it = w->times().find(job);
        if (it == w->times().end()) continue;
        us.push_back(
            static_cast<double>(it->second.to_dispatch_ns + (recv_ns - it->second.done_send_ns)) /
            1e3);
        break;
      }
    }
  }
  double sum = 0;
  for (double x : us) sum += x;
  nlohmann::json j = {{"samples", us.size()},
                      {"mean_us", us.empty() ? 0 : sum / static_cast<double>(us.size())}};
  j["p50_us"] = percentile(us, 0.50);
  j["p90_us"] = percentile(us, 0.90);
  j["p99_us"] = percentile(us, 0.99);
  j["max_us"] = us.empty() ? 0 : *std::max_element(us.begin(), us.end());
  return j;
}

nlohmann::json counters_json(const rs::broker::BrokerCounters& c) {
  auto g = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  uint64_t turns = g(c.turns);
  return {{"submitted", g(c.submitted)},
          {"finished", g(c.finished)},
          {"tokens", g(c.tokens)},
          {"rejected", g(c.rejected)},
          {"turns", turns},
          {"redis_round_trips", g(c.redis_round_trips)},
          {"jobs_per_turn",
           turns ? static_cast<double>(g(c.finished)) / static_cast<double>(turns) : 0},
          {"mean_turn_us",
           turns ? static_cast<double>(g(c.busy_ns)) / 1e3 / static_cast<double>(turns) : 0},
          {"max_turn_us", static_cast<double>(g(c.max_turn_ns)) / 1e3},
          {"client_drops", g(c.client_drops)},
          {"send_failures", g(c.send_failures)},
          {"redis_errors", g(c.redis_errors)},
          {"stale_dropped", g(c.stale_dropped)}};
}

// CPU used by the broker loop thread and redis-server over one run, per finished job.
struct CpuMeter {
  clockid_t broker_clock{};
  int redis_pid = 0;
  const rs::broker::BrokerCounters* counters = nullptr;
  double broker0 = 0, redis0 = 0, wall0 = 0, writer0 = 0, io0 = 0;
  uint64_t jobs0 = 0;
  void begin() {
    broker0 = thread_cpu_s(broker_clock);
    io0 = named_threads_cpu_s(kBrokerIoThreadPrefix);
    writer0 = static_cast<double>(counters->writer_cpu_ns.load()) / 1e9;
    redis0 = redis_pid ? process_cpu_s(redis_pid) : 0;
    wall0 = static_cast<double>(rs::bench::steady_ns()) / 1e9;
    jobs0 = counters->finished.load();
  }
  nlohmann::json end() const {
    // The broker's CPU: its loop thread and its StoreWriter thread (the Redis writes).
    double writer = static_cast<double>(counters->writer_cpu_ns.load()) / 1e9 - writer0;
    double broker = thread_cpu_s(broker_clock) - broker0 + writer;
    double redis = redis_pid ? process_cpu_s(redis_pid) - redis0 : 0;
    // The broker context's ZMQ I/O thread (framing, TCP, and CURVE's crypto on the broker's
    // side): with the loop and the writer, what a broker host spends per job.
    double io = named_threads_cpu_s(kBrokerIoThreadPrefix) - io0;
    double wall = static_cast<double>(rs::bench::steady_ns()) / 1e9 - wall0;
    double jobs = static_cast<double>(counters->finished.load() - jobs0);
    double per_job = jobs > 0 ? broker * 1e6 / jobs : 0;
    return {{"wall_s", wall},
            {"jobs", jobs},
            {"broker_cpu_s", broker},
            {"redis_cpu_s", redis},
            {"writer_cpu_us_per_job", jobs > 0 ? writer * 1e6 / jobs : 0},
            {"broker_busy", wall > 0 ? broker / wall : 0},
            {"broker_cpu_us_per_job", per_job},
            {"broker_io_cpu_us_per_job", jobs > 0 ? io * 1e6 / jobs : 0},
            {"broker_host_cpu_us_per_job", jobs > 0 ? (broker + io) * 1e6 / jobs : 0},
            {"redis_cpu_us_per_job", jobs > 0 ? redis * 1e6 / jobs : 0},
            {"broker_core_bound_jobs_s", per_job > 0 ? 1e6 / per_job : 0}};
  }
};

struct Pool {
  rs::test::RedisServer redis;
  // The broker has a context of its own with one I/O thread, as `ringserve-broker` does, its
  // thread named kBrokerIoThreadPrefix... so its CPU is measured apart from the peers'.
  zmq::context_t broker_ctx = named_context(1, kBrokerIoPrefixNumber);
  zmq::context_t ctx{2};
  std::unique_ptr<rs::broker::BrokerLoop> broker;
  std::thread broker_thread;
  std::vector<std::unique_ptr<rs::bench::ScriptedWorker>> scripted;
  rs::bench::RealWorkers real;

  ~Pool() {
    for (auto& w : scripted) w->stop();
    real.stop();
    if (broker) broker->request_stop();
    if (broker_thread.joinable()) broker_thread.join();
  }
  BenchKeys keys;
  bool curve = false;

  bool start_broker(const Options& opt, std::string* error) {
    if (!rs::test::RedisServer::available() || !redis.start()) {
      *error = "cannot start redis-server";
      return false;
    }
    rs::broker::BrokerOptions o;
    curve = opt.curve;
    if (curve) {
      if (!keys.make(opt.n_workers, error)) return false;
      o.curve_key_path = keys.dir + "/broker.key";
      o.allow_workers_path = keys.dir + "/workers.allow";
      o.allow_clients_path = keys.dir + "/clients.allow";
    }
    o.redis.port = redis.port();
    o.key_prefix = "bench:";
    o.max_queued = 1'000'000;
    broker = std::make_unique<rs::broker::BrokerLoop>(broker_ctx, o);
    if (rs::Status s = broker->bind(); !s.ok()) {
      *error = s.to_string();
      return false;
    }
    broker_thread = std::thread([this] {
      pthread_setname_np(pthread_self(), "broker-loop");
      (void)broker->run();
    });
    return true;
  }
  bool start_workers(const Options& opt, std::string* error) {
    if (opt.workers == "real") {
      std::filesystem::create_directories(opt.model_dir);
      std::string model = opt.model_dir + "/bench-synth.gguf";
      std::string bin = opt.bin_dir.empty() ? self_dir() : opt.bin_dir;
      return rs::bench::synth_model(bin, model, error) &&
             real.start(bin, broker->worker_endpoint(), model, opt.n_workers,
                        static_cast<int>(opt.devices), opt.max_batch, error);
    }
    for (int i = 0; i < opt.n_workers; ++i) {
      rs::bench::ScriptedWorkerConfig c{.endpoint = broker->worker_endpoint(),
                                        .id = "sw-" + std::to_string(i),
                                        .devices = opt.devices,
                                        .slots = opt.slots,
                                        .n_tokens = opt.tokens,
                                        .track_latency = true};
      if (curve) c.curve = keys.for_worker(static_cast<size_t>(i));
      if (opt.three_frames) c.framing = rs::wire::Framing::kFrames;
      scripted.push_back(std::make_unique<rs::bench::ScriptedWorker>(ctx, c));
      if (!scripted.back()->start()) {
        *error = "scripted worker did not get READY acknowledged";
        return false;
      }
    }
    return true;
  }
};

std::string summary(const Options& opt, const RunResult& peak, const RunResult& half,
                    const nlohmann::json& lat, const nlohmann::json& cpu) {
  char buf[640];
  int n = std::snprintf(
      buf, sizeof(buf),
      "bench-broker: workers=%s%s clients=%d window=%d tokens/job=%u peak %.0f jobs/s"
      " %.0f tok/s (broker %.1f us CPU/job + its I/O thread %.1f, redis %.1f us CPU/job) | at "
      "%.0f%% load"
      " (%.0f jobs/s) ",
      opt.workers.c_str(),
      (std::string(opt.curve ? " curve" : "") + (opt.three_frames ? " three-frames" : "")).c_str(),
      opt.clients, opt.window, opt.tokens, peak.jobs_s(), peak.tokens_s(),
      cpu.value("broker_cpu_us_per_job", 0.0), cpu.value("broker_io_cpu_us_per_job", 0.0),
      cpu.value("redis_cpu_us_per_job", 0.0), opt.load_fraction * 100, half.jobs_s());
  std::string s(buf, static_cast<size_t>(std::max(0, n)));
  if (!lat.contains("p50_us")) return s + "broker-added latency n/a (real workers)";
  std::snprintf(buf, sizeof(buf), "broker-added p50 %.0f us p99 %.0f us",
                lat["p50_us"].get<double>(), lat["p99_us"].get<double>());
  return s + buf;
}

// The two runs and the JSON document; 0 on success.
int run_bench(const Options& opt) {
  std::string loadavg;
  std::getline(std::ifstream("/proc/loadavg"), loadavg);
  Pool pool;
  std::string error;
  if (opt.curve && opt.workers != "scripted") {
    std::fprintf(stderr, "bench-broker: --curve is for --workers scripted\n");
    return 2;
  }
  if (!pool.start_broker(opt, &error) || !pool.start_workers(opt, &error)) {
    std::fprintf(stderr, "bench-broker: %s\n", error.c_str());
    return 1;
  }
  ClientConfig cc{.endpoint = pool.broker->client_endpoint(),
                  .clients = opt.clients,
                  .window = opt.window,
                  .max_tokens = opt.tokens,
                  .warmup_s = opt.warmup_s,
                  .measure_s = opt.seconds};
  if (opt.curve) cc.curve = pool.keys.for_clients();
  if (opt.three_frames) cc.framing = rs::wire::Framing::kFrames;
  CpuMeter cpu{.redis_pid = redis_child_pid(), .counters = &pool.broker->counters()};
  pthread_getcpuclockid(pool.broker_thread.native_handle(), &cpu.broker_clock);
  cpu.begin();
  RunResult peak = rs::bench::run_clients(pool.ctx, cc);
  nlohmann::json peak_cpu = cpu.end();
  cc.rate_jobs_s = std::max(1.0, peak.jobs_s() * opt.load_fraction);
  if (opt.latency_clients > 0) {  // fewer threads: less scheduling noise, if they keep up
    cc.clients = opt.latency_clients;
    cc.window = opt.window * opt.clients / opt.latency_clients;
  }
  cc.track_latency = true;
  cpu.begin();
  RunResult half = rs::bench::run_clients(pool.ctx, cc);
  nlohmann::json half_cpu = cpu.end();
  for (auto& w : pool.scripted) w->stop();
  std::vector<rs::bench::ScriptedWorker*> ws;
  for (auto& w : pool.scripted) ws.push_back(w.get());
  nlohmann::json lat =
      opt.workers == "scripted" ? latency_json(half, ws) : nlohmann::json::object();
  nlohmann::json doc = {
      {"bench", "broker"},
      {"config",
       {{"workers", opt.workers},
        {"n_workers", opt.n_workers},
        {"devices", opt.devices},
        {"slots", opt.slots},
        {"clients", opt.clients},
        {"latency_clients", opt.latency_clients},
        {"window", opt.window},
        {"tokens_per_job", opt.tokens},
        {"seconds", opt.seconds},
        {"quick", opt.quick},
        {"curve", opt.curve},
        {"framing", opt.three_frames ? "three_frames" : "packed"}}},
      {"peak", run_json(peak)},
      {"peak_cpu", peak_cpu},
      {"half_load", run_json(half)},
      {"half_load_cpu", half_cpu},
      {"machine", {{"cores", std::thread::hardware_concurrency()}, {"loadavg_before", loadavg}}},
      {"broker_added_latency", lat},
      {"broker_counters", counters_json(pool.broker->counters())},
      {"goals", {{"jobs_s", 50000}, {"tokens_s", 500000}, {"p99_us", 1000}}}};
  if (opt.out.empty()) {
    std::cout << doc.dump(2) << "\n";
  } else {
    std::ofstream(opt.out) << doc.dump(2) << "\n";
  }
  std::cerr << summary(opt, peak, half, lat, peak_cpu) << std::endl;
  return 0;
}

// --batch-ttft and its own flags; the shared ones (--n-workers, --devices,
// --max-batch-size, --bin-dir, --out, --quick) are copied over by run_batch_ttft_mode.
void add_batch_ttft_flags(CLI::App& app, Options& opt, rs::bench::BatchTtftOptions& t) {
  app.add_flag("--batch-ttft", opt.batch_ttft,
               "interactive TTFT idle vs during an ingest batch (real broker/worker processes)");
  app.add_option("--model", t.model_file, "--batch-ttft: GGUF model (default: stories260K.gguf)");
  app.add_option("--samples", t.samples, "--batch-ttft: interactive jobs per phase")
      ->check(CLI::Range(1, 10000));
  app.add_option("--interactive-tokens", t.interactive_tokens,
                 "--batch-ttft: max_tokens of interactive jobs")
      ->check(CLI::Range(1, 4096));
  app.add_option("--batch-jobs", t.batch_jobs, "--batch-ttft: jobs in the batch")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--batch-tokens", t.batch_tokens, "--batch-ttft: max_tokens of batch jobs")
      ->check(CLI::Range(1, 4096));
  app.add_option("--batch-timeout-s", t.batch_timeout_s,
                 "--batch-ttft: give up on the batch after this");
  app.add_option("--threads", t.threads, "--batch-ttft: matmul threads per device")
      ->check(CLI::Range(1, 256));
  app.add_option("--broker-arg", t.broker_args,
                 "--batch-ttft: extra ringserve-broker flag (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--worker-arg", t.worker_args,
                 "--batch-ttft: extra ringserve-worker flag (repeatable)")
      ->allow_extra_args(false);
}

int run_batch_ttft_mode(const CLI::App& app, const Options& opt, rs::bench::BatchTtftOptions t) {
  auto split = [](std::vector<std::string>& args) {  // "--flag value" in one --broker-arg
    std::vector<std::string> out;
    for (const std::string& a : args) {
      std::istringstream words(a);
      for (std::string w; words >> w;) out.push_back(w);
    }
    args = std::move(out);
  };
  split(t.broker_args);
  split(t.worker_args);
  t.n_workers = opt.n_workers;
  if (app.count("--devices") > 0) t.devices = static_cast<int>(opt.devices);
  if (app.count("--max-batch-size") > 0) t.max_batch = opt.max_batch;
  t.bin_dir = opt.bin_dir;
  t.out = opt.out;
  t.quick = opt.quick;
  if (opt.quick) {  // well under a minute
    if (app.count("--samples") == 0) t.samples = 5;
    if (app.count("--batch-jobs") == 0) t.batch_jobs = 200;
    if (app.count("--batch-timeout-s") == 0) t.batch_timeout_s = 60;
  }
  rs::init_logging(opt.log_level);
  return rs::bench::run_batch_ttft(t);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-broker: broker throughput and added latency with a real Redis"};
  Options opt;
  app.add_option("--workers", opt.workers, "scripted | real")
      ->check(CLI::IsMember({"scripted", "real"}));
  app.add_option("--clients", opt.clients, "client threads")->check(CLI::Range(1, 64));
  app.add_option("--latency-clients", opt.latency_clients,
                 "client threads of the rate-limited run (0: --clients)")
      ->check(CLI::Range(0, 64));
  app.add_option("--window", opt.window, "SUBMITs in flight per client")
      ->check(CLI::Range(1, 100000));
  app.add_option("--tokens", opt.tokens, "tokens per job")->check(CLI::Range(1, 4096));
  app.add_option("--seconds", opt.seconds, "measured seconds per run");
  app.add_option("--warmup", opt.warmup_s, "warm-up seconds per run");
  app.add_option("--load-fraction", opt.load_fraction, "latency run rate as a fraction of peak");
  app.add_option("--n-workers", opt.n_workers, "worker threads/processes")
      ->check(CLI::Range(1, 64));
  app.add_option("--devices", opt.devices, "devices per worker");
  app.add_option("--slots", opt.slots, "slots per scripted device");
  app.add_option("--max-batch-size", opt.max_batch, "real workers: sequences per engine step");
  app.add_option("--bin-dir", opt.bin_dir, "where ringserve-worker and ringserve-model are");
  app.add_option("--out", opt.out, "write the JSON here instead of stdout");
  app.add_flag("--quick", opt.quick, "a short run for CI");
  app.add_flag("--curve", opt.curve,
               "CURVE on both broker sockets (scripted workers; docs/SECURITY.md)");
  app.add_flag(
      "--three-frames", opt.three_frames,
      "scripted workers and clients send three frames, not the packed form (docs/PROTOCOL.md)");
  app.add_option("--log-level", opt.log_level,
                 "broker log level (trace|debug|info|warn|error|off)");
  rs::bench::BatchTtftOptions ttft;
  add_batch_ttft_flags(app, opt, ttft);
  CLI11_PARSE(app, argc, argv);
  if (opt.batch_ttft) return run_batch_ttft_mode(app, opt, ttft);
  if (opt.quick) {
    opt.seconds = 1;
    opt.warmup_s = 0.3;
  }
  rs::init_logging(opt.log_level);  // stderr: stdout is the JSON
  return run_bench(opt);
}
