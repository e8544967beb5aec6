#include "up_pool.h"

#include <algorithm>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "rs/engine/gguf.h"
#include "rs/client/client.h"
#include "redis_credentials.h"
#include "rs/store/api_keys.h"
#include "rs/store/redis_auth.h"
#include "rs/store/redis_connection.h"
#include "up_util.h"

namespace rs::cli {
namespace fs = std::filesystem;
namespace {

constexpr int kPollMs = 20;
constexpr int kTailLines = 15;

using Clock = std::chrono::steady_clock;

std::string plural(int n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// Writes `line` to path through a temporary file and a rename (readers never see half).
Status write_file_atomically(const std::string& path, const std::string& line) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << line << "\n";
    if (!out) return io_error("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return io_error("cannot write " + path + ": " + ec.message());
  return Status();
}

std::string join_with(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

Pool::Pool(UpOptions options, const volatile std::sig_atomic_t* stop_flag)
    : options_(std::move(options)),
      stop_flag_(stop_flag),
      supervisor_(options_.restart_backoff, [this](const ChildProcess& c) { record(c); }) {}

Pool::~Pool() {
  stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void Pool::progress(const std::string& line) const {
  if (options_.quiet) return;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string Pool::log_path(const std::string& name) const {
  return var_ + "/log/" + name + ".log";
}

Status Pool::start() {
  RS_RETURN_IF_ERROR(prepare_dirs());
  RS_RETURN_IF_ERROR(lock_var_dir());
  if (options_.serve.empty()) {
    RS_RETURN_IF_ERROR(ensure_model());
  } else {
    info_.serve = options_.serve;
    info_.model = join_with(options_.serve, ",");
  }
  RS_RETURN_IF_ERROR(prepare_keys());
  RS_RETURN_IF_ERROR(start_redis());
  RS_RETURN_IF_ERROR(write_file_atomically(info_.redis_file, info_.redis));
  RS_RETURN_IF_ERROR(start_broker());
  RS_RETURN_IF_ERROR(start_workers());
  RS_RETURN_IF_ERROR(wait_devices());
  RS_RETURN_IF_ERROR(write_endpoint_file());
  if (options_.gateway) RS_RETURN_IF_ERROR(start_gateway());
  RS_RETURN_IF_ERROR(write_metrics_files());
  watch_children();
  return Status();
}

Status Pool::prepare_dirs() {
  std::error_code ec;
  var_ = fs::absolute(options_.var_dir, ec).lexically_normal().string();
  if (ec) return io_error("bad --var '" + options_.var_dir + "': " + ec.message());
  while (var_.size() > 1 && var_.back() == '/') var_.pop_back();
  for (const char* sub : {"", "/log", "/redis-data", "/models", "/prometheus"}) {
    fs::create_directories(var_ + sub, ec);
    if (ec) return io_error("cannot create " + var_ + sub + ": " + ec.message());
  }
  info_.endpoint_file = var_ + "/endpoint";
  info_.redis_file = var_ + "/redis";
  info_.http_file = var_ + "/http";
  info_.api_key_file = var_ + "/api-key";
  info_.metrics_file = var_ + "/metrics";
  info_.targets_file = var_ + "/prometheus/targets.json";
  return Status();
}

Status Pool::lock_var_dir() {
  std::string path = var_ + "/up.lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return io_error("cannot open " + path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const pid_t owner = read_lock_owner(lock_fd_);
    const std::string who = owner > 0 ? " (pid " + std::to_string(owner) + ")" : "";
    return Status(StatusCode::kUnavailable, "another `ringserve up`" + who + " is running with " +
                                                options_.var_dir +
                                                " (stop it with Ctrl-C, or use --var DIR)");
  }
  locked_ = true;
  write_lock_owner(lock_fd_);
  clear_stale_state();
  return Status();
}

// The lock was free, so any earlier `up` here is gone (killed with -9, or crashed): its
// children still shutting down are stopped, and its endpoint, redis, http and api-key files
// are stale. Its Redis data (the AOF) stays: the new pool resumes its unfinished jobs.
void Pool::clear_stale_state() {
  for (const std::string& child : stop_leftovers(var_ + "/pids", options_.grace_ms)) {
    progress("stopped " + child + ", left running by an earlier `ringserve up` here");
  }
  std::error_code ec;
  if (fs::exists(info_.endpoint_file, ec)) {
    progress("removed the stale " + info_.endpoint_file + " of an earlier `ringserve up` (gone)");
  }
  fs::remove(info_.endpoint_file, ec);
  // Before the redis file, an older `ringserve up` kept Redis's (empty) data dir there.
  if (fs::is_directory(info_.redis_file, ec)) {
    fs::remove_all(info_.redis_file, ec);
  } else {
    fs::remove(info_.redis_file, ec);
    fs::remove(info_.http_file, ec);
    fs::remove(info_.api_key_file, ec);
  }
}

void Pool::record(const ChildProcess& child) {
  auto ticks = process_start_ticks(child.pid());
  std::erase_if(recorded_, [&](const RecordedChild& r) { return r.name == child.name(); });
  recorded_.push_back(RecordedChild{child.pid(), ticks.value_or(0), child.name()});
  if (Status s = write_pid_file(var_ + "/pids", recorded_); !s.ok()) {
    std::fprintf(stderr, "ringserve up: %s\n", s.message().c_str());
  }
}

Result<std::unique_ptr<ChildProcess>> Pool::spawn(const std::string& name,
                                                  const std::string& program,
                                                  std::vector<std::string> args) {
  ProcessOptions o;
  o.name = name;
  o.program = program;
  o.args = std::move(args);
  o.log_path = log_path(name);
  RS_ASSIGN_OR_RETURN(auto child, ChildProcess::spawn(std::move(o)));
  record(*child);
  return child;
}

Status Pool::child_failed(ChildProcess& child, const std::string& what) const {
  std::string tail = tail_file(child.log_path(), kTailLines);
  std::string msg = child.name() + " " + child.exit_description() + " " + what + " (log " +
                    child.log_path() + ")";
  if (!tail.empty()) msg += "; last lines:\n" + tail;
  return Status(StatusCode::kUnavailable, msg);
}

Status Pool::wait_until(ChildProcess& child, const std::string& what,
                        const std::function<bool()>& ready) {
  auto deadline = Clock::now() + std::chrono::milliseconds(options_.start_timeout_ms);
  while (true) {
    if (ready()) return Status();
    if (stop_requested()) return Status(StatusCode::kCancelled, "interrupted while " + what);
    if (!child.alive()) return child_failed(child, "while " + what);
    if (Clock::now() >= deadline) {
      std::string tail = tail_file(child.log_path(), kTailLines);
      return Status(StatusCode::kUnavailable, "timed out after " +
                                                  std::to_string(options_.start_timeout_ms / 1000) +
                                                  " s " + what + " (log " + child.log_path() + ")" +
                                                  (tail.empty() ? "" : "; last lines:\n" + tail));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
}

namespace {

// A synthetic model made before `synth` wrote a chat template lacks one.
bool has_chat_template(const std::string& path) {
  auto file = engine::GgufFile::open(path);
  return file.ok() && (*file)->has("tokenizer.chat_template");
}

}  // namespace

Status Pool::ensure_model() {
  if (!options_.model.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(options_.model, ec))
      return not_found("model file not found: " + options_.model);
    info_.model_path = fs::absolute(options_.model).string();
    info_.model = options_.model_name;
    return Status();
  }
  info_.model = options_.model_name.empty() ? "synth" : options_.model_name;
  info_.model_path = var_ + "/models/synth.gguf";
  if (fs::exists(info_.model_path)) {
    if (has_chat_template(info_.model_path)) return Status();
    progress("the cached synthetic model has no chat template (made by an older ringserve): remaking it");
  }
  RS_ASSIGN_OR_RETURN(std::string tool, find_program("ringserve-model"));
  std::string partial = info_.model_path + ".partial";
  progress("making a small synthetic model (byte-level tokenizer, random weights): " +
           info_.model_path);
  RS_ASSIGN_OR_RETURN(
      auto synth, spawn("synth", tool,
                        {"synth",   "--arch", "llama",      "--dim", "64",    "--layers", "2",
                         "--heads", "4",      "--kv-heads", "4",     "--ffn", "128",      "--type",
                         "f32",     "--seed", "1",          "--ctx", "2048",  partial}));
  RS_RETURN_IF_ERROR(
      wait_until(*synth, "making the synthetic model", [&] { return !synth->alive(); }));
  if (synth->exit_code() != 0) return child_failed(*synth, "making the synthetic model");
  std::error_code ec;
  fs::rename(partial, info_.model_path, ec);
  if (ec) return io_error("cannot rename " + partial + ": " + ec.message());
  return Status();
}

// --redis, --redis-user and --redis-password-file of a child that acts as `role`.
std::vector<std::string> Pool::redis_flags(store::RedisRole role) const {
  return {"--redis", info_.redis, "--redis-user", std::string(store::redis_role_name(role)),
          "--redis-password-file", redis_password_path(var_, role)};
}

// Redis runs with VAR/redis.acl: one user per role (NOAUTH without one) with its password from
// VAR/keys (made once, reused by every later `up` here).
Status Pool::start_redis() {
  RS_ASSIGN_OR_RETURN(std::string program, find_redis_server());
  RS_RETURN_IF_ERROR(ensure_redis_credentials(var_));
  if (options_.redis_port > 0) {
    redis_port_ = options_.redis_port;
  } else {
    RS_ASSIGN_OR_RETURN(redis_port_, free_loopback_port());
  }
  RS_ASSIGN_OR_RETURN(
      redis_, spawn("redis", program,
                    {"--port", std::to_string(redis_port_), "--bind", "127.0.0.1", "--dir",
                     var_ + "/redis-data", "--save", "", "--appendonly", "yes", "--appendfsync",
                     options_.redis_fsync, "--aclfile", redis_acl_path(var_), "--daemonize", "no"}));
  RS_RETURN_IF_ERROR(wait_until(*redis_,
                                "starting redis-server on 127.0.0.1:" + std::to_string(redis_port_),
                                [&] { return redis_ping(redis_port_, 200); }));
  info_.redis = "127.0.0.1:" + std::to_string(redis_port_);
  progress("redis    " + info_.redis + "  (users in " + redis_acl_path(var_) + ", passwords in " + var_ +
           "/keys; log " + redis_->log_path() + ")");
  return Status();
}

std::vector<std::string> Pool::broker_args(const std::string& client, const std::string& worker,
                                           int metrics) const {
  std::vector<std::string> args = redis_flags(store::RedisRole::kBroker);
  args.insert(args.end(), {"--client-endpoint", client, "--worker-endpoint", worker, "--journal",
                           var_ + "/broker.journal", "--metrics-port", std::to_string(metrics),
                           "--log-format", options_.log_format});
  for (std::string& a : broker_security_args()) args.push_back(std::move(a));
  return args;
}

std::vector<std::string> Pool::gateway_args(int http_port, int metrics) const {
  std::vector<std::string> args = {"--broker", info_.client_endpoint};
  const std::vector<std::string> redis = redis_flags(store::RedisRole::kGateway);
  args.insert(args.end(), redis.begin(), redis.end());
  args.insert(args.end(), {"--port", std::to_string(http_port), "--metrics-port", std::to_string(metrics),
                           "--log-format", options_.log_format});
  if (!options_.gateway_tls_cert.empty() || !options_.gateway_tls_key.empty()) {
    std::error_code ec;  // absolute: the gateway may run elsewhere than `up` was started
    args.insert(args.end(),
                {"--tls-cert", std::filesystem::absolute(options_.gateway_tls_cert, ec).string(),
                 "--tls-key", std::filesystem::absolute(options_.gateway_tls_key, ec).string()});
  }
  for (std::string& a : peer_key_args("gateway")) args.push_back(std::move(a));
  return args;
}

Status Pool::start_broker() {
  RS_ASSIGN_OR_RETURN(std::string program, find_program("ringserve-broker"));
  RS_ASSIGN_OR_RETURN(int metrics, metrics_port("broker"));
  RS_ASSIGN_OR_RETURN(broker_,
                      spawn("broker", program,
                            broker_args("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", metrics)));
  RS_RETURN_IF_ERROR(wait_until(*broker_, "starting the broker", [&] {
    auto client = find_line(broker_->log_path(), "client_endpoint ");
    auto worker = find_line(broker_->log_path(), "worker_endpoint ");
    if (!client || !worker) return false;
    info_.client_endpoint = *client;
    info_.worker_endpoint = *worker;
    return true;
  }));
  progress("broker   clients " + info_.client_endpoint + "  workers " + info_.worker_endpoint +
           "  (log " + broker_->log_path() + ")");
  return Status();
}

// File mode: --model FILE [--model-name NAME]; registry mode: --redis R --serve NAME...
std::vector<std::string> Pool::worker_args() const {
  std::vector<std::string> args = {"--broker", info_.worker_endpoint};
  if (options_.serve.empty()) {
    args.insert(args.end(), {"--model", info_.model_path});
    if (!info_.model.empty()) args.insert(args.end(), {"--model-name", info_.model});
    if (!options_.chat_template.empty()) {
      args.insert(args.end(), {"--chat-template", fs::absolute(options_.chat_template).string()});
    }
  } else {
    const std::vector<std::string> redis = redis_flags(store::RedisRole::kWorker);
    args.insert(args.end(), redis.begin(), redis.end());
    for (const auto& name : options_.serve) args.insert(args.end(), {"--serve", name});
  }
  args.insert(args.end(), {"--devices", std::to_string(options_.devices)});
  args.insert(args.end(), {"--log-format", options_.log_format});
  // A worker's drain (SIGTERM: finish or hand back its jobs) ends before `up` would SIGKILL
  // it, and a worker whose `up` died goes within that too.
  args.insert(args.end(), {"--grace-ms", std::to_string(std::max(options_.grace_ms * 4 / 5, 0))});
  if (options_.threads > 0)
    args.insert(args.end(), {"--threads", std::to_string(options_.threads)});
  args.insert(args.end(), options_.worker_args.begin(), options_.worker_args.end());
  return args;
}

Status Pool::start_workers() {
  RS_ASSIGN_OR_RETURN(std::string program, find_program("ringserve-worker"));
  const std::vector<std::string> args = worker_args();
  for (int i = 1; i <= options_.workers; ++i) {
    const std::string name = "worker-" + std::to_string(i);
    RS_ASSIGN_OR_RETURN(int metrics, metrics_port(name));
    std::vector<std::string> worker_args = args;
    worker_args.insert(worker_args.end(), {"--metrics-port", std::to_string(metrics)});
    for (std::string& a : peer_key_args(name)) worker_args.push_back(std::move(a));
    RS_ASSIGN_OR_RETURN(auto w, spawn(name, program, std::move(worker_args)));
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    std::string ready_line;
    const char* what = options_.serve.empty() ? "loading the model" : "loading the active versions";
    RS_RETURN_IF_ERROR(wait_until(*w, what, [&] {
      auto line = find_line(w->log_path(), "ready ");
      if (line) ready_line = *line;
      return line.has_value();
    }));
    if (info_.model.empty()) info_.model = field_of(ready_line, "model");
    progress(w->name() + " " + ready_line + "  (log " + w->log_path() + ")");
  }
  return Status();
}

Status Pool::wait_devices() {
  client::ClientOptions co;
  co.endpoint = info_.client_endpoint;
  co.request_timeout_ms = 1000;
  if (!info_.keys_dir.empty()) {
    RS_ASSIGN_OR_RETURN(co.curve, client::resolve_curve(info_.keys_dir + "/cli.key",
                                                        info_.keys_dir + "/broker.pub"));
  }
  RS_ASSIGN_OR_RETURN(auto client, client::Client::connect(co));
  const int want = options_.workers * options_.devices;
  int seen = 0;
  Status last;
  Status s = wait_until(*broker_, "waiting for the broker to list " + plural(want, "device"), [&] {
    for (auto& w : workers_) {
      if (!w->alive()) return true;  // reported below
    }
    auto devices = client->workers();
    if (!devices.ok()) {
      last = devices.status();
      return false;
    }
    seen = static_cast<int>(devices->size());
    return seen >= want;
  });
  for (auto& w : workers_) {
    if (!w->alive()) return child_failed(*w, "while joining the broker");
  }
  if (!s.ok() && s.code() != StatusCode::kCancelled) {
    std::string detail =
        "the broker lists " + plural(seen, "device") + " of " + std::to_string(want);
    if (!last.ok()) detail += "; last error: " + last.to_string();
    return Status(s.code(), s.message() + "\n    " + detail);
  }
  RS_RETURN_IF_ERROR(s);
  info_.workers = options_.workers;
  info_.devices = seen;
  return Status();
}

Status Pool::write_endpoint_file() {
  return write_file_atomically(info_.endpoint_file, info_.client_endpoint);
}

// A key of tenant "local" for this pool's Redis, written 0600 for the user's tools.
Status Pool::write_api_key() {
  RS_ASSIGN_OR_RETURN(auto redis_options, store::parse_redis_address(info_.redis));
  redis_options.user = std::string(store::redis_role_name(store::RedisRole::kCli));
  RS_ASSIGN_OR_RETURN(redis_options.password,
                      store::read_password_file(redis_password_path(var_, store::RedisRole::kCli)));
  store::RedisConnection redis(redis_options);
  store::ApiKeys keys(redis);
  RS_ASSIGN_OR_RETURN(store::NewApiKey key, keys.add("local"));
  std::error_code ec;
  fs::remove(info_.api_key_file, ec);
  const int fd = ::open(info_.api_key_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot write " + info_.api_key_file);
  const std::string line = key.key + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  return ok ? Status() : io_error("cannot write " + info_.api_key_file);
}

Status Pool::start_gateway() {
  RS_RETURN_IF_ERROR(write_api_key());
  RS_ASSIGN_OR_RETURN(std::string program, find_program("ringserve-gateway"));
  RS_ASSIGN_OR_RETURN(int metrics, metrics_port("gateway"));
  RS_ASSIGN_OR_RETURN(gateway_, spawn("gateway", program, gateway_args(options_.http_port, metrics)));
  RS_RETURN_IF_ERROR(wait_until(*gateway_, "starting the gateway", [&] {
    auto url = find_line(gateway_->log_path(), "http_url ");
    if (!url) return false;
    info_.http_url = *url;
    if (!options_.gateway_tls_cert.empty()) {
      std::error_code ec;
      info_.http_tls_cert = std::filesystem::absolute(options_.gateway_tls_cert, ec).string();
    }
    return true;
  }));
  RS_RETURN_IF_ERROR(write_file_atomically(info_.http_file, info_.http_url));
  progress("gateway  " + info_.http_url + "  (log " + gateway_->log_path() + ")");
  return Status();
}

Result<int> Pool::metrics_port(const std::string& name) {
  RS_ASSIGN_OR_RETURN(int port, free_loopback_port());
  info_.metrics_ports.emplace_back(name, port);
  return port;
}

int Pool::metrics_port_of(const std::string& name) const {
  for (const auto& [n, port] : info_.metrics_ports) {
    if (n == name) return port;
  }
  return 0;
}

// var/metrics ("NAME URL" per line, for `ringserve top`) and var/prometheus/targets.json
// (Prometheus file-based service discovery, read by deploy/prometheus/prometheus.yml).
Status Pool::write_metrics_files() {
  std::string lines;
  nlohmann::json targets = nlohmann::json::array();
  for (const auto& [name, port] : info_.metrics_ports) {
    const std::string address = "127.0.0.1:" + std::to_string(port);
    lines += name + " http://" + address + "\n";
    targets.push_back({{"targets", {address}}, {"labels", {{"ringserve_process", name}}}});
  }
  RS_RETURN_IF_ERROR(write_file_atomically(info_.metrics_file, lines));
  RS_RETURN_IF_ERROR(write_file_atomically(info_.targets_file, targets.dump(2) + "\n"));
  progress("metrics  " + info_.metrics_file + " (/metrics, /healthz, /readyz)  prometheus targets " +
           info_.targets_file);
  return Status();
}

// Restarts use the ports of the first start: the broker binds the endpoints it reported
// (clients, workers and the gateway reconnect to them), the gateway its URL's port.
void Pool::watch_children() {
  supervisor_.watch(&redis_, redis_->options());
  ProcessOptions broker = broker_->options();
  broker.args = broker_args(info_.client_endpoint, info_.worker_endpoint, metrics_port_of("broker"));
  supervisor_.watch(&broker_, std::move(broker));
  for (auto& w : workers_) supervisor_.watch(&w, w->options());
  if (gateway_) {
    ProcessOptions gateway = gateway_->options();
    gateway.args = gateway_args(std::stoi(info_.http_url.substr(info_.http_url.rfind(':') + 1)),
                                metrics_port_of("gateway"));
    supervisor_.watch(&gateway_, std::move(gateway));
  }
}

void Pool::supervise() {
  supervisor_.tick(Clock::now());
}

void Pool::stop() {
  if (stopped_) return;
  stopped_ = true;
  // The gateway first: it stops taking requests and ends its streams (clients resume).
  if (gateway_) {
    if (Status s = gateway_->terminate(options_.grace_ms); !s.ok()) {
      std::fprintf(stderr, "ringserve up: %s\n", s.message().c_str());
    }
  }
  // Workers, all at once, so they say goodbye to a live broker.
  for (auto& w : workers_) {
    if (w) w->signal(SIGTERM);
  }
  for (auto& w : workers_) {
    if (!w) continue;
    if (Status s = w->wait_or_kill(options_.grace_ms); !s.ok()) {
      std::fprintf(stderr, "ringserve up: %s\n", s.message().c_str());
    }
  }
  for (auto* c : {&broker_, &redis_}) {
    if (!*c) continue;
    if (Status s = (*c)->terminate(options_.grace_ms); !s.ok()) {
      std::fprintf(stderr, "ringserve up: %s\n", s.message().c_str());
    }
  }
  if (locked_) {
    std::error_code ec;
    fs::remove(info_.endpoint_file, ec);
    fs::remove(info_.redis_file, ec);
    fs::remove(info_.http_file, ec);
    fs::remove(info_.api_key_file, ec);
    fs::remove(info_.metrics_file, ec);
    fs::remove(info_.targets_file, ec);
    fs::remove(var_ + "/pids", ec);
  }
}

}  // namespace rs::cli
