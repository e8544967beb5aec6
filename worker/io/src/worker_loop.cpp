// WorkerLoop: construction, start, the poll loop, engine health and shutdown.
#include "rs/worker/io/worker_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "rs/wire/poller.h"

namespace rs::worker::io {
namespace {

constexpr long kMaxPollMs = 50;  // bounds how late request_stop() and engine health are seen

wire::HeartbeatOptions heartbeat_options(const WorkerOptions& o) {
  return wire::HeartbeatOptions{.interval_ms = std::max<int64_t>(o.heartbeat_ms, 1),
                                .missed_beats = std::max(o.missed_beats, 1)};
}

}  // namespace

WorkerLoop::WorkerLoop(zmq::context_t& context, std::shared_ptr<const engine::Model> model,
                       WorkerOptions options, const rs::Clock& clock)
    : context_(context),
      model_(std::move(model)),
      options_(std::move(options)),
      clock_(clock),
      outbox_(std::make_shared<Outbox>()),
      metrics_(std::make_unique<WorkerMetrics>(options_.worker_id, std::max(0, options_.devices))),
      broker_beat_(clock, heartbeat_options(options_)),
      backoff_(options_.backoff) {}

WorkerLoop::WorkerLoop(zmq::context_t& context, WorkerOptions options, const rs::Clock& clock)
    : WorkerLoop(context, nullptr, std::move(options), clock) {}

WorkerLoop::~WorkerLoop() { shutdown(); }

Status WorkerLoop::check_options() const {
  if (options_.registry) {
    if (model_ != nullptr) return invalid_argument("worker: a model file and a registry");
  } else {
    if (model_ == nullptr) return invalid_argument("worker: no model");
    if (options_.model_name.empty()) return invalid_argument("worker: empty model name");
  }
  if (options_.broker_endpoint.empty()) return invalid_argument("worker: no broker endpoint");
  if (options_.worker_id.empty()) return invalid_argument("worker: empty worker id");
  if (options_.devices < 1 || options_.devices > 256) {
    return invalid_argument("worker: devices must be in 1..256");
  }
  if (options_.heartbeat_ms < 1) return invalid_argument("worker: heartbeat_ms must be >= 1");
  return Status();
}

Status WorkerLoop::start() {
  if (started_) return internal_error("WorkerLoop::start called twice");
  RS_RETURN_IF_ERROR(check_options());
  started_ = true;
  RS_RETURN_IF_ERROR(start_hosts());
  if (options_.registry) return start_registry();
  {
    std::lock_guard<std::mutex> lock(keys_mu_);
    advertised_ = {options_.model_name};
  }
  if (options_.model_load_seconds > 0) {
    metrics_->model_loaded(options_.model_name, options_.model_load_seconds);
  }
  connect_and_ready();
  if (!connected_) return Status(StatusCode::kUnavailable, "worker: cannot open a socket to " +
                                                               options_.broker_endpoint);
  return Status();
}

// Registry mode: the watcher and the loader wake the poll through their own inproc pairs.
// The socket (and READY) waits until the first wanted set is loaded (maintain_connection).
Status WorkerLoop::start_registry() {
  models::ModelManagerOptions mo = *options_.registry;
  for (auto* wake : {&mo.wake_watcher, &mo.wake_loader}) {
    RS_ASSIGN_OR_RETURN(wire::WakeupPair pair, wire::make_wakeup_pair(context_));
    auto sender = std::make_shared<wire::WakeupSender>(std::move(pair.sender));
    wake_receivers_.push_back(std::move(pair.receiver));
    *wake = [sender] { sender->wake(); };
  }
  models_ = std::make_unique<models::ModelManager>(std::move(mo));
  models_ready_ = false;
  models_->start();
  return Status();
}

Status WorkerLoop::start_hosts() {
  for (int d = 0; d < options_.devices; ++d) {
    RS_ASSIGN_OR_RETURN(wire::WakeupPair pair, wire::make_wakeup_pair(context_));
    auto sender = std::make_shared<wire::WakeupSender>(std::move(pair.sender));
    wake_receivers_.push_back(std::move(pair.receiver));
    DeviceHostConfig c;
    c.device = d;
    c.engine.max_batch_size = options_.max_batch_size;
    c.engine.max_batch_tokens = options_.max_batch_tokens;
    c.engine.batch_timeout_ms = options_.batch_timeout_ms;
    c.engine.kv_blocks = options_.kv_blocks;
    c.engine.kv_cache_type = options_.kv_cache_type;
    c.engine.n_threads = options_.threads_per_device;
    // An idle engine thread beats several times per interval, so only a stuck one goes stale.
    c.beat_interval_ms = static_cast<int>(std::clamp<int64_t>(options_.heartbeat_ms / 4, 1, 100));
    c.outbox = outbox_;
    c.wake = [sender] { sender->wake(); };  // only device d's engine thread calls it
    if (options_.before_step) c.before_step = [hook = options_.before_step, d] { hook(d); };
    c.model_key = options_.model_name;
    c.fail_on_prompt = options_.fail_on_prompt;
    c.metrics = metrics_->device(d);
    auto host = model_ != nullptr ? DeviceHost::start(model_, std::move(c)) : DeviceHost::start(std::move(c));
    if (!host.ok()) {
      return Status(host.status().code(), "device " + std::to_string(d) + ": " + host.status().message());
    }
    hosts_.push_back(std::move(host).value());
    host_ptrs_.push_back(hosts_.back().get());
  }
  return Status();
}

Status WorkerLoop::run() {
  if (!started_) return internal_error("WorkerLoop::run before start");
  Status result;
  while (!stop_.load(std::memory_order_relaxed)) {
    result = run_once(kMaxPollMs);
    if (!result.ok()) break;
  }
  const char* why = draining() ? "drained" : "shutting down";
  shutdown(result.ok() ? why : result.to_string());
  return result;
}

Status WorkerLoop::run_once(long max_wait_ms) {
  if (shut_down_) return Status(StatusCode::kUnavailable, "worker: shut down");
  wire::Poller poller;
  for (wire::WakeupReceiver& r : wake_receivers_) poller.add(r.socket());
  const bool polled_socket = connected_;
  const size_t si = polled_socket ? poller.add(socket_) : 0;
  auto ready = poller.poll(std::clamp<long>(std::min(max_wait_ms, poll_timeout_ms()), 0, kMaxPollMs));
  if (!ready.ok()) return ready.status();
  for (wire::WakeupReceiver& r : wake_receivers_) r.drain();
  update_health();
  turn_models();
  watch_link();
  if (polled_socket && connected_ && poller.readable(si)) drain_broker();
  flush_outbox();
  turn_drain();
  maintain_connection();
  return Status();
}

long WorkerLoop::poll_timeout_ms() const {
  if (!connected_) {
    if (!healthy() || !models_ready_) return kMaxPollMs;  // no (re)connect while stale or loading
    const int64_t ms = (reconnect_at_ns_ - clock_.now_ns() + 999'999) / 1'000'000;
    return static_cast<long>(std::clamp<int64_t>(ms, 0, kMaxPollMs));
  }
  if (ready_pending_ && healthy()) {
    return static_cast<long>(std::clamp<int64_t>((ready_retry_at_ns_ - clock_.now_ns()) / 1'000'000, 0, kMaxPollMs));
  }
  return static_cast<long>(std::min<int64_t>(broker_beat_.ms_until_next_event(), kMaxPollMs));
}

// Healthy while every engine thread beat within missed_beats heartbeat intervals.
void WorkerLoop::update_health() {
  const int64_t now = clock_.now_ns();
  const int64_t limit_ns = options_.heartbeat_ms * std::max(options_.missed_beats, 1) * 1'000'000;
  bool ok = true;
  for (const auto& host : hosts_) {
    if (now - host->last_beat_ns() >= limit_ns) {
      if (healthy()) spdlog::warn("worker {}: device {} engine stalled; falling silent",
                                  options_.worker_id, host->device());
      ok = false;
    }
  }
  if (ok && !healthy()) spdlog::info("worker {}: engines beating again", options_.worker_id);
  healthy_.store(ok, std::memory_order_relaxed);
}

void WorkerLoop::set_state(State state) {
  state_ = state;
  registered_.store(state == State::kRegistered, std::memory_order_release);
  metrics_->broker_linked(state == State::kRegistered);
}

void WorkerLoop::shutdown(const std::string& reason) {
  if (shut_down_) return;
  shut_down_ = true;
  if (connected_) {
    if (send(schemas::WorkerDisconnect{.worker_id = options_.worker_id, .reason = reason})) {
      spdlog::info("worker {}: disconnect sent ({})", options_.worker_id, reason);
    }
    try {
      socket_.set(zmq::sockopt::linger, options_.shutdown_linger_ms);
    } catch (const zmq::error_t&) {
    }
    socket_.close();
    connected_ = false;
  }
  set_state(State::kDisconnected);
  // Joins the engine threads; each drops its engines (and their share of the models) as it
  // exits. The DeviceHosts themselves stay until the loop is destroyed: device_load() may
  // be called from any thread, also while this runs.
  for (auto& host : hosts_) host->stop(StopMode::kCancel);
  host_ptrs_.clear();
  if (models_) models_->stop();  // joins the watcher and the loader, drops the models
  models_.reset();
  (void)outbox_->take_all();
  in_flight_.clear();
  wake_receivers_.clear();
}

std::vector<std::string> WorkerLoop::advertised_keys() const {
  std::lock_guard<std::mutex> lock(keys_mu_);
  return advertised_;
}

DeviceLoad WorkerLoop::device_load(int device) const {
  if (device < 0 || static_cast<size_t>(device) >= hosts_.size()) return DeviceLoad{};
  return hosts_[static_cast<size_t>(device)]->load();
}

metrics::Readiness WorkerLoop::readiness() const {
  if (!healthy()) {
    return {.ready = false, .reason = "engine_stalled",
            .detail = "an engine thread has not beaten for " +
                      std::to_string(options_.heartbeat_ms * std::max(options_.missed_beats, 1)) +
                      " ms"};
  }
  if (advertised_keys().empty()) {
    return {.ready = false, .reason = "no_model", .detail = "no model loaded (or draining)"};
  }
  if (!registered()) {
    return {.ready = false, .reason = "broker_unlinked",
            .detail = "the broker has not acknowledged this worker"};
  }
  return {};
}

}  // namespace rs::worker::io
