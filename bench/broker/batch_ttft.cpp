// bench-broker --batch-ttft: do interactive jobs keep their time-to-first-token while a
// big batch runs? Starts a private redis-server, a ringserve-broker process and N
// ringserve-worker processes on a real GGUF model. Phase 1 (idle): K interactive jobs one
// after another through rs_client, each timed from submit to the first token received.
// Phase 2 (loaded): a batch of B jobs appended to the ingest stream (priority batch); once
// every device is running jobs and the batch has results, the same K interactive jobs.
// Writes JSON (--out or stdout) and one summary line.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "bench_broker.h"
#include "child_process.h"
#include "redis_server.h"
#include "rs/client/client.h"
#include "rs/store/batch_streams.h"
#include "rs/store/redis_connection.h"

namespace rs::bench {
namespace {

namespace sc = rs::schemas;
using rs::test::ChildProcess;

constexpr const char* kModelName = "bench";
constexpr const char* kDefaultModel = "/work/shared/models/stories260K.gguf";
constexpr int kStartTimeoutMs = 30000;
constexpr int kJobTimeoutMs = 120000;
constexpr int kBusyTimeoutMs = 30000;
constexpr int kWarmupJobs = 2;

const char* const kInteractivePrompts[] = {"Once upon a time", "The little dog", "Lily went to the park",
                                           "Tom had a red ball", "One day a bird"};
const char* const kNames[] = {"Lily", "Tom", "Sue", "Ben", "Max", "Mia", "Sam", "Anna"};
const char* const kThings[] = {"a big red ball", "a small cat", "a shiny stone", "a blue kite",
                               "an old tree", "a funny hat", "a yellow boat"};
const char* const kPlaces[] = {"in the park", "by the sea", "at school", "in the garden", "on a hill"};

std::string batch_prompt(int i) {
  auto pick = [i](const auto& list, int mul) {
    const size_t n = std::size(list);
    return list[static_cast<size_t>(i * mul + i / 7) % n];
  };
  return std::string("Once upon a time, ") + pick(kNames, 3) + " found " + pick(kThings, 5) + " " +
         pick(kPlaces, 2) + ". Story " + std::to_string(i) + ":";
}

double ms_between(int64_t from_ns, int64_t to_ns) { return static_cast<double>(to_ns - from_ns) / 1e6; }

std::string load_average() {
  std::string line;
  std::getline(std::ifstream("/proc/loadavg"), line);
  return line;
}

std::string self_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

template <typename F>
bool poll_until(int timeout_ms, F&& done) {
  const int64_t deadline = steady_ns() + static_cast<int64_t>(timeout_ms) * 1'000'000;
  for (;;) {
    if (done()) return true;
    if (steady_ns() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// ---- the pool: redis-server, ringserve-broker, ringserve-worker x N ----------------------

class ProcessPool {
 public:
  explicit ProcessPool(const BatchTtftOptions& o) : o_(o), bin_(o.bin_dir.empty() ? self_dir() : o.bin_dir) {}
  ~ProcessPool() {
    for (auto& w : workers_) w->terminate(3000);
    broker_.terminate(3000);
  }

  bool start(std::string* error) {
    if (!rs::test::RedisServer::available() || !redis_.start()) return fail(error, "cannot start redis-server");
    if (!start_broker()) return fail(error, "ringserve-broker did not start:\n" + log_tail("broker.log"));
    for (int i = 0; i < o_.n_workers; ++i) {
      std::string id = "bw" + std::to_string(i + 1);
      if (!start_worker(id)) return fail(error, "ringserve-worker " + id + " did not start:\n" + log_tail("worker-" + id + ".log"));
    }
    return true;
  }

  Result<std::unique_ptr<client::Client>> connect() const {
    client::ClientOptions c;
    c.endpoint = client_endpoint_;
    c.request_timeout_ms = 30000;  // a broker under load still answers, maybe slowly
    return client::Client::connect(std::move(c));
  }
  int redis_port() const { return redis_.port(); }
  std::string log_tail(const std::string& name) const { return rs::test::file_tail(dir_.file(name), 15); }

 private:
  static bool fail(std::string* error, std::string why) {
    *error = std::move(why);
    return false;
  }
  bool start_broker() {
    std::vector<std::string> argv = {bin_ + "/ringserve-broker", "--redis",
                                     "127.0.0.1:" + std::to_string(redis_.port()), "--log-level", "warn"};
    argv.insert(argv.end(), o_.broker_args.begin(), o_.broker_args.end());
    if (std::find(argv.begin(), argv.end(), "--curve-key") == argv.end()) argv.push_back("--insecure");
    if (!broker_.start(argv, dir_.file("broker.log"))) return false;
    auto c = broker_.wait_for_line("client_endpoint ", kStartTimeoutMs);
    auto w = broker_.wait_for_line("worker_endpoint ", kStartTimeoutMs);
    if (!c || !w) return false;
    client_endpoint_ = c->substr(std::string("client_endpoint ").size());
    worker_endpoint_ = w->substr(std::string("worker_endpoint ").size());
    return true;
  }
  bool start_worker(const std::string& id) {
    std::vector<std::string> argv = {bin_ + "/ringserve-worker", "--broker", worker_endpoint_, "--model",
                                     o_.model_file, "--model-name", kModelName, "--devices",
                                     std::to_string(o_.devices), "--threads", std::to_string(o_.threads),
                                     "--worker-id", id, "--log-level", "warn"};
    if (o_.max_batch > 0) argv.insert(argv.end(), {"--max-batch-size", std::to_string(o_.max_batch)});
    argv.insert(argv.end(), o_.worker_args.begin(), o_.worker_args.end());
    workers_.push_back(std::make_unique<ChildProcess>());
    ChildProcess& p = *workers_.back();
    return p.start(argv, dir_.file("worker-" + id + ".log")) &&
           p.wait_for_line("ready worker=" + id, kStartTimeoutMs).has_value();
  }

  const BatchTtftOptions& o_;
  std::string bin_;
  rs::test::TempDir dir_{"rs-bench-ttft"};
  rs::test::RedisServer redis_;
  ChildProcess broker_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::string client_endpoint_, worker_endpoint_;
};

// ---- interactive samples ---------------------------------------------------------------

struct Sample {
  double client_ttft_ms = 0;  // submit() called -> first token delivered to this client
  double usage_ttft_ms = 0;   // the broker's usage.ttft_ms (accepted -> first token)
  double queue_ms = 0;        // usage.queue_ms (accepted -> dispatched)
  double total_ms = 0;        // submit() called -> DONE
  uint32_t running_at_submit = 0;  // slots in use over all devices just before the submit
};

uint32_t running_slots(client::Client& c) {
  auto d = c.workers();
  uint32_t n = 0;
  if (d.ok()) {
    for (const auto& dev : *d) n += dev.running;
  }
  return n;
}

Result<Sample> interactive_job(client::Client& c, const std::string& prompt, uint32_t max_tokens) {
  Sample s;
  s.running_at_submit = running_slots(c);
  sc::SubmitRequest r;
  r.model = kModelName;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  r.priority = sc::Priority::kInteractive;
  r.stream = true;
  const int64_t t0 = steady_ns();
  auto accepted = c.submit(std::move(r));
  if (!accepted.ok()) return accepted.status();
  int64_t first_ns = 0;
  auto rec = c.wait(accepted->job_id, [&](const sc::TokenEntry&) { if (first_ns == 0) first_ns = steady_ns(); },
                    kJobTimeoutMs);
  const int64_t t1 = steady_ns();
  if (!rec.ok()) return rec.status();
  if (rec->state != sc::JobState::kSucceeded || first_ns == 0) {
    return Status(StatusCode::kInternal, "interactive job " + accepted->job_id + " ended " +
                                             std::string(sc::job_state_name(rec->state)) + ": " + rec->error);
  }
  s.client_ttft_ms = ms_between(t0, first_ns);
  s.usage_ttft_ms = rec->usage.ttft_ms;
  s.queue_ms = rec->usage.queue_ms;
  s.total_ms = ms_between(t0, t1);
  return s;
}

Result<std::vector<Sample>> interactive_phase(client::Client& c, int n, uint32_t max_tokens) {
  std::vector<Sample> out;
  for (int i = 0; i < n; ++i) {
    auto s = interactive_job(c, kInteractivePrompts[static_cast<size_t>(i) % std::size(kInteractivePrompts)],
                             max_tokens);
    if (!s.ok()) return s.status();
    out.push_back(*s);
  }
  return out;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

nlohmann::json dist_json(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return {{"p50", quantile(v, 0.5)}, {"p90", quantile(v, 0.9)}, {"max", quantile(v, 1.0)},
          {"mean", v.empty() ? 0 : sum / static_cast<double>(v.size())}};
}

template <typename F>
std::vector<double> field(const std::vector<Sample>& samples, F&& get) {
  std::vector<double> v;
  for (const Sample& s : samples) v.push_back(static_cast<double>(get(s)));
  return v;
}

nlohmann::json samples_json(const std::vector<Sample>& s) {
  return {{"samples", s.size()},
          {"client_ttft_ms", dist_json(field(s, [](const Sample& x) { return x.client_ttft_ms; }))},
          {"usage_ttft_ms", dist_json(field(s, [](const Sample& x) { return x.usage_ttft_ms; }))},
          {"queue_ms", dist_json(field(s, [](const Sample& x) { return x.queue_ms; }))},
          {"total_ms", dist_json(field(s, [](const Sample& x) { return x.total_ms; }))},
          {"running_slots_at_submit", dist_json(field(s, [](const Sample& x) { return x.running_at_submit; }))},
          {"client_ttft_ms_each", field(s, [](const Sample& x) { return x.client_ttft_ms; })}};
}

// ---- the batch ---------------------------------------------------------------------------

struct BatchFigures {
  std::string id;
  int jobs = 0;
  uint64_t done_before_loaded = 0;  // results when the loaded phase began
  uint64_t done_after_loaded = 0;   // results when it ended
  bool busy_reached = false;        // every device running and a first result, in time
  double busy_wait_s = 0;           // batch appended -> loaded phase began
  double seconds = 0;               // first append -> last result seen
  bool complete = false;
  uint64_t succeeded = 0, completion_tokens = 0;
  std::vector<double> batch_ttft_ms, batch_queue_ms;
};

class Batch {
 public:
  Batch(int redis_port, const BatchTtftOptions& o) : conn_(redis_options(redis_port)), ingest_(conn_), results_(conn_) {
    f_.id = "ttft-" + std::to_string(::getpid());
    f_.jobs = o.batch_jobs;
    max_tokens_ = o.batch_tokens;
  }
  BatchFigures& figures() { return f_; }

  Status append_all() {
    start_ns_ = steady_ns();
    for (int i = 0; i < f_.jobs; ++i) {
      store::IngestItem item;
      item.batch = f_.id;
      item.item_id = std::to_string(i);
      item.request.model = kModelName;
      item.request.prompt = batch_prompt(i);
      item.request.max_tokens = max_tokens_;
      item.request.sampling.temperature = 0.8f;
      item.request.sampling.seed = static_cast<uint64_t>(i) + 1;
      auto entry = ingest_.append(item);
      if (!entry.ok()) return entry.status();
    }
    return Status();
  }

  uint64_t done() {
    auto n = results_.length(f_.id);
    return n.ok() ? *n : 0;
  }

  // Every device running something and at least one batch result (bounded; also ends
  // when the whole batch is done, which running_throughout then reports).
  void wait_busy(client::Client& c) {
    poll_until(kBusyTimeoutMs, [&] {
      uint64_t n = done();
      if (n >= static_cast<uint64_t>(f_.jobs)) return true;
      auto d = c.workers();
      if (!d.ok() || d->empty() || n == 0) return false;
      for (const auto& dev : *d) {
        if (dev.running == 0) return false;
      }
      return f_.busy_reached = true;
    });
    f_.busy_wait_s = ms_between(start_ns_, steady_ns()) / 1e3;
  }

  void wait_end(int timeout_s) {
    f_.complete = poll_until(timeout_s * 1000, [&] { return done() >= static_cast<uint64_t>(f_.jobs); });
    f_.seconds = ms_between(start_ns_, steady_ns()) / 1e3;
    read_results();
  }

 private:
  static store::RedisOptions redis_options(int port) {
    store::RedisOptions r;
    r.port = port;
    r.command_timeout_ms = 10000;
    return r;
  }
  void read_results() {
    if (!results_.ensure_group(f_.id, "bench").ok()) return;
    for (;;) {
      auto r = results_.read(f_.id, "bench", "bench", 1000, 0);
      if (!r.ok() || r->empty()) return;
      for (const auto& res : *r) {
        if (res.record.state == sc::JobState::kSucceeded) ++f_.succeeded;
        f_.completion_tokens += res.record.usage.completion_tokens;
        f_.batch_ttft_ms.push_back(res.record.usage.ttft_ms);
        f_.batch_queue_ms.push_back(res.record.usage.queue_ms);
      }
    }
  }

  store::RedisConnection conn_;
  store::IngestStream ingest_;
  store::BatchResults results_;
  BatchFigures f_;
  uint32_t max_tokens_ = 64;
  int64_t start_ns_ = 0;
};

nlohmann::json batch_json(const BatchFigures& f, uint32_t max_tokens) {
  return {{"id", f.id},
          {"jobs", f.jobs},
          {"max_tokens", max_tokens},
          {"busy_reached", f.busy_reached},
          {"busy_wait_s", f.busy_wait_s},
          {"done_before_loaded_phase", f.done_before_loaded},
          {"done_after_loaded_phase", f.done_after_loaded},
          {"running_throughout", f.done_after_loaded < static_cast<uint64_t>(f.jobs)},
          {"complete", f.complete},
          {"seconds", f.seconds},
          {"succeeded", f.succeeded},
          {"completion_tokens", f.completion_tokens},
          {"jobs_s", f.seconds > 0 ? static_cast<double>(f.succeeded) / f.seconds : 0},
          {"tokens_s", f.seconds > 0 ? static_cast<double>(f.completion_tokens) / f.seconds : 0},
          {"usage_ttft_ms", dist_json(f.batch_ttft_ms)},
          {"queue_ms", dist_json(f.batch_queue_ms)}};
}

// ---- the run -------------------------------------------------------------------------------

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

nlohmann::json ratio_json(const std::vector<Sample>& idle, const std::vector<Sample>& loaded) {
  auto ct = [](const Sample& x) { return x.client_ttft_ms; };
  auto ut = [](const Sample& x) { return x.usage_ttft_ms; };
  double p50 = ratio(quantile(field(loaded, ct), 0.5), quantile(field(idle, ct), 0.5));
  double p90 = ratio(quantile(field(loaded, ct), 0.9), quantile(field(idle, ct), 0.9));
  return {{"client_ttft_p50", p50},
          {"client_ttft_p90", p90},
          {"usage_ttft_p50", ratio(quantile(field(loaded, ut), 0.5), quantile(field(idle, ut), 0.5))},
          {"usage_ttft_p90", ratio(quantile(field(loaded, ut), 0.9), quantile(field(idle, ut), 0.9))},
          {"within_2x_p50", p50 <= 2.0},
          {"within_2x_p90", p90 <= 2.0}};
}

nlohmann::json config_json(const BatchTtftOptions& o) {
  return {{"model", o.model_file},         {"n_workers", o.n_workers},
          {"devices", o.devices},          {"threads", o.threads},
          {"max_batch_size", o.max_batch}, {"samples", o.samples},
          {"interactive_tokens", o.interactive_tokens}, {"batch_jobs", o.batch_jobs},
          {"batch_tokens", o.batch_tokens}, {"quick", o.quick},
          {"broker_args", o.broker_args},  {"worker_args", o.worker_args}};
}

std::string summary(const nlohmann::json& doc) {
  const auto& i = doc["idle"]["client_ttft_ms"];
  const auto& l = doc["loaded"]["client_ttft_ms"];
  const auto& r = doc["ratio"];
  const auto& b = doc["batch"];
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "batch-ttft idle p50 %.1f ms p90 %.1f ms | during %d-job batch p50 %.1f ms p90 %.1f ms | ratio p50 %.2f "
                "p90 %.2f | batch %d jobs in %.1f s (%llu done before, %llu after the loaded phase%s)",
                i["p50"].get<double>(), i["p90"].get<double>(), b["jobs"].get<int>(), l["p50"].get<double>(),
                l["p90"].get<double>(), r["client_ttft_p50"].get<double>(), r["client_ttft_p90"].get<double>(),
                b["jobs"].get<int>(), b["seconds"].get<double>(),
                static_cast<unsigned long long>(b["done_before_loaded_phase"].get<uint64_t>()),
                static_cast<unsigned long long>(b["done_after_loaded_phase"].get<uint64_t>()),
                b["running_throughout"].get<bool>() ? "" : "; BATCH ENDED EARLY: loaded figures invalid");
  return buf;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "bench-broker --batch-ttft: %s\n", what.c_str());
  return 1;
}

void write_out(const BatchTtftOptions& o, const nlohmann::json& doc) {
  if (o.out.empty()) {
    std::cout << doc.dump(2) << "\n";
    std::cerr << summary(doc) << std::endl;  // stdout holds the JSON
  } else {
    std::ofstream(o.out) << doc.dump(2) << "\n";
    std::cout << summary(doc) << std::endl;
  }
}

}  // namespace

int run_batch_ttft(const BatchTtftOptions& options) {
  BatchTtftOptions o = options;
  if (o.model_file.empty()) o.model_file = kDefaultModel;
  const std::string load_before = load_average();
  ProcessPool pool(o);
  std::string error;
  if (!pool.start(&error)) return fail(error);
  auto client = pool.connect();
  if (!client.ok()) return fail(client.status().to_string());
  client::Client& c = **client;
  const size_t want_devices = static_cast<size_t>(o.n_workers * o.devices);
  if (!poll_until(kStartTimeoutMs, [&] { auto d = c.workers(); return d.ok() && d->size() == want_devices; })) {
    return fail("devices did not come up");
  }
  if (auto w = interactive_phase(c, kWarmupJobs, o.interactive_tokens); !w.ok()) return fail("warm-up: " + w.status().to_string());
  auto idle = interactive_phase(c, o.samples, o.interactive_tokens);
  if (!idle.ok()) return fail("idle phase: " + idle.status().to_string() + "\n" + pool.log_tail("broker.log"));
  Batch batch(pool.redis_port(), o);
  if (Status s = batch.append_all(); !s.ok()) return fail("ingest append: " + s.to_string());
  batch.wait_busy(c);
  batch.figures().done_before_loaded = batch.done();
  auto loaded = interactive_phase(c, o.samples, o.interactive_tokens);
  if (!loaded.ok()) return fail("loaded phase: " + loaded.status().to_string() + "\n" + pool.log_tail("broker.log"));
  batch.figures().done_after_loaded = batch.done();
  batch.wait_end(o.batch_timeout_s);
  nlohmann::json doc = {{"bench", "broker-batch-ttft"},
                        {"config", config_json(o)},
                        {"machine", {{"nproc", std::thread::hardware_concurrency()},
                                     {"loadavg_before", load_before}, {"loadavg_after", load_average()}}},
                        {"idle", samples_json(*idle)},
                        {"loaded", samples_json(*loaded)},
                        {"ratio", ratio_json(*idle, *loaded)},
                        {"batch", batch_json(batch.figures(), o.batch_tokens)},
                        {"goal", {{"acceptance", "interactive TTFT during a 500-job batch within 2x of idle"},
                                  {"max_ratio", 2.0}}}};
  write_out(o, doc);
  return batch.figures().complete ? 0 : fail("the batch did not finish in time");
}

}  // namespace rs::bench
