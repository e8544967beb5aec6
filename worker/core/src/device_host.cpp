#include "rs/worker/device_host.h"

#include <algorithm>
#include <utility>

#include "engine_slot.h"
#include "rs/core/clock.h"

namespace rs::worker {

using engine::Engine;
using engine::Model;

namespace {
int64_t steady_ns() { return SteadyClock::instance().now_ns(); }
}  // namespace

Result<std::unique_ptr<DeviceHost>> DeviceHost::start(std::shared_ptr<const Model> model,
                                                      DeviceHostConfig config) {
  if (model == nullptr) return invalid_argument("device host: no model");
  if (config.beat_interval_ms <= 0) return invalid_argument("beat_interval_ms must be > 0");
  const std::string key = config.model_key;
  RS_ASSIGN_OR_RETURN(std::unique_ptr<Engine> eng, Engine::create(std::move(model), config.engine));
  std::unique_ptr<DeviceHost> host(new DeviceHost(std::move(config)));
  host->slots_.push_back(std::make_unique<EngineSlot>(key, std::move(eng)));
  host->last_key_ = key;
  host->launch();
  return host;
}

Result<std::unique_ptr<DeviceHost>> DeviceHost::start(DeviceHostConfig config) {
  if (config.beat_interval_ms <= 0) return invalid_argument("beat_interval_ms must be > 0");
  if (config.engine.max_batch_size <= 0) return invalid_argument("max_batch_size must be > 0");
  std::unique_ptr<DeviceHost> host(new DeviceHost(std::move(config)));
  host->launch();
  return host;
}

DeviceHost::DeviceHost(DeviceHostConfig config) : config_(std::move(config)), outbox_(config_.outbox) {
  if (outbox_ == nullptr) outbox_ = std::make_shared<Outbox>();
}

void DeviceHost::launch() {
  beat();
  publish_load();
  thread_ = std::thread([this] { run(); });
}

DeviceHost::~DeviceHost() { stop(StopMode::kCancel); }

void DeviceHost::submit(std::string job_id, int attempt, engine::GenerationRequest request) {
  post(SubmitCommand{std::move(job_id), attempt, std::move(request), std::nullopt, steady_ns()});
}

void DeviceHost::submit(std::string job_id, int attempt, engine::GenerationRequest request,
                        std::string key) {
  post(SubmitCommand{std::move(job_id), attempt, std::move(request), std::move(key), steady_ns()});
}

void DeviceHost::post(Command command) {
  n_posted_.fetch_add(1, std::memory_order_acq_rel);
  inbox_.post(std::move(command));
}

void DeviceHost::cancel(std::string job_id) { post(CancelCommand{std::move(job_id)}); }

Status DeviceHost::add_model(std::string key, std::shared_ptr<const Model> model) {
  if (model == nullptr) return invalid_argument("add_model: no model");
  if (!running()) return internal_error("add_model: device host is stopped");
  RS_ASSIGN_OR_RETURN(std::unique_ptr<Engine> eng, Engine::create(std::move(model), config_.engine));
  {
    std::lock_guard<std::mutex> lock(key_mu_);
    last_key_ = key;
  }
  post(AddModelCommand{std::move(key), std::move(eng)});
  return Status::ok_status();
}

void DeviceHost::retire_model(std::string key) { post(RetireModelCommand{std::move(key)}); }

Status DeviceHost::swap_model(std::shared_ptr<const Model> model) {
  std::string key;
  {
    std::lock_guard<std::mutex> lock(key_mu_);
    key = last_key_;
  }
  return add_model(std::move(key), std::move(model));
}

std::vector<SlotInfo> DeviceHost::slots() const {
  std::lock_guard<std::mutex> lock(slots_mu_);
  return slot_infos_;
}

bool DeviceHost::holds(const std::string& key) const {
  std::lock_guard<std::mutex> lock(slots_mu_);
  return std::any_of(slot_infos_.begin(), slot_infos_.end(),
                     [&key](const SlotInfo& s) { return s.key == key; });
}

void DeviceHost::stop(StopMode mode) {
  if (!thread_.joinable()) return;
  stopped_.store(true, std::memory_order_release);
  post(StopCommand{mode});
  thread_.join();
}

DeviceLoad DeviceHost::load() const {
  DeviceLoad l;
  l.n_jobs = n_jobs_.load(std::memory_order_relaxed);
  l.n_running = n_running_.load(std::memory_order_relaxed);
  l.n_waiting = n_waiting_.load(std::memory_order_relaxed);
  l.free_slots = std::max(0, config_.engine.max_batch_size - l.n_jobs);
  const uint64_t kv = kv_blocks_.load(std::memory_order_relaxed);
  l.kv_free_blocks = static_cast<int>(kv >> 32);
  l.kv_total_blocks = static_cast<int>(kv & 0xffffffffu);
  l.n_engines = n_engines_.load(std::memory_order_relaxed);
  return l;
}

// ---- engine thread ----

void DeviceHost::run() {
  for (;;) {
    beat();
    std::vector<Command> commands = inbox_.take(wait_for_turn());
    n_taken_ += commands.size();
    beat();
    for (Command& c : commands) apply(c);
    step_engines();
    publish_load();  // before flush: load() agrees with the batches the I/O thread sees
    flush();
    if (stopping_ && !has_work()) break;
  }
  // A stopped host holds no engine: each one (and its share of the Model, its KV cache and
  // its thread pool) goes now, on the thread that ran it.
  slots_.clear();
  jobs_.clear();
  publish_load();
  beat();
}

void DeviceHost::beat() {
  last_beat_ns_.store(SteadyClock::instance().now_ns(), std::memory_order_release);
  n_beats_.fetch_add(1, std::memory_order_relaxed);
}

// How long the engine thread may sleep on the inbox before its next turn.
std::chrono::nanoseconds DeviceHost::wait_for_turn() const {
  using std::chrono::milliseconds;
  const milliseconds beat_ms(config_.beat_interval_ms);
  if (!pending_.empty()) return milliseconds(0);
  if (held_back_) {  // the engine waits for company (batch_timeout_ms): look again soon
    const int ms = std::max(1, (config_.engine.batch_timeout_ms + 3) / 4);
    return std::min(milliseconds(ms), beat_ms);
  }
  if (has_work()) return milliseconds(0);
  return beat_ms;
}

void DeviceHost::apply(Command& command) {
  if (auto* s = std::get_if<SubmitCommand>(&command)) return apply_submit(*s);
  if (auto* c = std::get_if<CancelCommand>(&command)) return apply_cancel(*c);
  if (auto* a = std::get_if<AddModelCommand>(&command)) return apply_add(*a);
  if (auto* r = std::get_if<RetireModelCommand>(&command)) return apply_retire(*r);
  if (auto* t = std::get_if<StopCommand>(&command)) return apply_stop(*t);
}

void DeviceHost::apply_submit(SubmitCommand& command) {
  if (stopping_) {
    return reject(command.job_id, command.attempt,
                  Status(StatusCode::kUnavailable, "device is stopping"));
  }
  auto it = jobs_.find(command.job_id);
  if (it != jobs_.end()) {
    if (command.attempt <= it->second.attempt) {
      pending_.errors.push_back("duplicate submit of job " + command.job_id + " attempt " +
                                std::to_string(command.attempt) + " dropped: attempt " +
                                std::to_string(it->second.attempt) + " is in flight");
      return;
    }
    it->second.slot->cancel(it->second.seq);  // the old attempt ends CANCELLED
    jobs_.erase(it);
  }
  EngineSlot* slot = slot_for(command.key);
  if (slot == nullptr) {
    return reject(command.job_id, command.attempt,
                  not_found("no engine for model '" + command.key.value_or("") +
                            "' on device " + std::to_string(config_.device)));
  }
  std::string fault = injected_fault(command.request.prompt);
  auto seq = slot->submit(command.job_id, command.attempt, std::move(command.request));
  if (!seq.ok()) return reject(command.job_id, command.attempt, seq.status());
  // fail_on_prompt: admitted, then ended by the engine in the next step (inject_faults
  // turns that end into the failure).
  if (!fault.empty()) slot->cancel(*seq);
  jobs_[command.job_id] = JobRef{slot, *seq, command.attempt, std::move(fault), command.posted_ns};
}

// The injected error for a prompt containing one of config_.fail_on_prompt ("": none).
std::string DeviceHost::injected_fault(const std::string& prompt) const {
  for (const std::string& marker : config_.fail_on_prompt) {
    if (!marker.empty() && prompt.find(marker) != std::string::npos) {
      return "injected fault: prompt contains '" + marker + "'";
    }
  }
  return {};
}

// A job admitted with a fault ends with its error instead of the cancellation that ended
// its sequence (batch.finished from first_finished: this step's ends of one engine).
void DeviceHost::inject_faults(StepBatch& batch, size_t first_finished) {
  for (size_t i = first_finished; i < batch.finished.size(); ++i) {
    FinishedOut& f = batch.finished[i];
    auto it = jobs_.find(f.job_id);
    if (it == jobs_.end() || it->second.attempt != f.attempt || it->second.fault.empty()) continue;
    if (f.reason != engine::FinishReason::kCancelled) continue;
    f.reason = engine::FinishReason::kError;
    f.error = std::move(it->second.fault);
    f.error_code = StatusCode::kInternal;
  }
}

void DeviceHost::apply_cancel(const CancelCommand& command) {
  auto it = jobs_.find(command.job_id);
  if (it != jobs_.end() && !it->second.fault.empty()) {
    it->second.fault.clear();  // a real cancel of a job with an injected fault: CANCELLED
    return;
  }
  if (it == jobs_.end() || !it->second.slot->cancel(it->second.seq)) {
    n_unknown_cancels_.fetch_add(1, std::memory_order_relaxed);
  }
  // The entry stays until the engine reports the CANCELLED finish (forget_finished).
}

// The engine added last that takes new jobs for `key` (any key when nullopt).
EngineSlot* DeviceHost::slot_for(const std::optional<std::string>& key) const {
  for (auto it = slots_.rbegin(); it != slots_.rend(); ++it) {
    if ((*it)->accepting() && (!key || (*it)->key() == *key)) return it->get();
  }
  return nullptr;
}

void DeviceHost::apply_add(AddModelCommand& command) {
  if (stopping_ || command.engine == nullptr) return;
  for (auto& slot : slots_) {
    if (slot->key() == command.key) slot->retire();
  }
  slots_.push_back(std::make_unique<EngineSlot>(std::move(command.key), std::move(command.engine)));
}

void DeviceHost::apply_retire(const RetireModelCommand& command) {
  for (auto& slot : slots_) {
    if (slot->key() == command.key) slot->retire();
  }
}

void DeviceHost::apply_stop(const StopCommand& command) {
  stopping_ = true;
  if (command.mode == StopMode::kCancel) {
    for (auto& slot : slots_) slot->cancel_all();
  }
}

void DeviceHost::reject(const std::string& job_id, int attempt, const Status& error) {
  FinishedOut f;
  f.job_id = job_id;
  f.attempt = attempt;
  f.reason = engine::FinishReason::kError;
  f.error = error.to_string();
  f.error_code = error.code();
  pending_.finished.push_back(std::move(f));
}

bool DeviceHost::has_work() const {
  for (const auto& slot : slots_) {
    if (slot->has_work()) return true;
  }
  return false;
}

// One engine step on every engine that has work; all their events go in one StepBatch.
void DeviceHost::step_engines() {
  if (!has_work()) {
    held_back_ = false;
    drop_drained();
    return;
  }
  for (auto& slot : slots_) {
    if (!slot->has_work()) continue;
    const size_t first_finished = pending_.finished.size();
    const size_t first_token = pending_.tokens.size();
    const int seqs_before = pending_.n_seqs, tokens_before = pending_.n_tokens,
              preempted_before = pending_.n_preempted;
    beat();
    if (config_.before_step) config_.before_step();
    const int64_t started_ns = steady_ns();
    slot->step(pending_);
    beat();
    inject_faults(pending_, first_finished);
    if (config_.metrics != nullptr) {
      config_.metrics->step(static_cast<double>(steady_ns() - started_ns) / 1e9,
                            pending_.n_seqs - seqs_before, pending_.n_tokens - tokens_before,
                            pending_.n_preempted - preempted_before);
      observe_step(*slot, pending_, first_token, first_finished, steady_ns());
    }
    forget_finished(pending_, first_finished);
  }
  n_steps_.fetch_add(1, std::memory_order_relaxed);
  held_back_ = pending_.n_seqs == 0 && has_work();
  drop_drained();
}

// Engines that take no new jobs (retired or replaced) are dropped once their jobs are done;
// dropping one releases its share of the Model.
void DeviceHost::drop_drained() {
  auto drained = [](const std::unique_ptr<EngineSlot>& s) { return !s->accepting() && s->drained(); };
  slots_.erase(std::remove_if(slots_.begin(), slots_.end(), drained), slots_.end());
}

// The step's tokens (TTFT or inter-token latency, per job) and ends (end-to-end latency,
// queue time, prompt and cache tokens) into the device's metrics.
void DeviceHost::observe_step(const EngineSlot& slot, const StepBatch& batch, size_t first_token,
                              size_t first_finished, int64_t now_ns) {
  DeviceMetrics& m = *config_.metrics;
  for (size_t i = first_token; i < batch.tokens.size(); ++i) {
    const TokenOut& t = batch.tokens[i];
    auto it = jobs_.find(t.job_id);
    if (it == jobs_.end() || it->second.attempt != t.attempt) continue;
    JobRef& job = it->second;
    if (job.last_token_ns == 0) {
      m.first_token(slot.key(), static_cast<double>(now_ns - job.posted_ns) / 1e9);
    } else {
      m.next_token(slot.key(), static_cast<double>(now_ns - job.last_token_ns) / 1e9);
    }
    job.last_token_ns = now_ns;
  }
  for (size_t i = first_finished; i < batch.finished.size(); ++i) {
    const FinishedOut& f = batch.finished[i];
    auto it = jobs_.find(f.job_id);
    if (it == jobs_.end() || it->second.attempt != f.attempt) continue;
    m.finished(slot.key(), f.reason, f.usage,
               static_cast<double>(now_ns - it->second.posted_ns) / 1e9);
  }
}

void DeviceHost::forget_finished(const StepBatch& batch, size_t first_finished) {
  for (size_t i = first_finished; i < batch.finished.size(); ++i) {
    const FinishedOut& f = batch.finished[i];
    auto it = jobs_.find(f.job_id);
    if (it != jobs_.end() && it->second.attempt == f.attempt) jobs_.erase(it);
  }
}

void DeviceHost::flush() {
  if (pending_.empty()) {
    pending_.n_seqs = 0;
    pending_.n_tokens = 0;
    return;
  }
  pending_.device = config_.device;
  pending_.number = ++n_batches_;
  outbox_->push(std::move(pending_));
  pending_ = StepBatch{};
  if (config_.wake) config_.wake();
}

void DeviceHost::publish_load() {
  int n_jobs = 0, n_running = 0, n_waiting = 0;
  for (const auto& slot : slots_) {
    n_jobs += slot->n_jobs();
    n_running += slot->engine().n_running();
    n_waiting += slot->engine().n_waiting();
  }
  n_jobs_.store(n_jobs, std::memory_order_relaxed);
  n_running_.store(n_running, std::memory_order_relaxed);
  n_waiting_.store(n_waiting, std::memory_order_relaxed);
  int kv_free = 0, kv_total = 0;  // of the engines taking new jobs
  std::vector<SlotInfo> infos;
  infos.reserve(slots_.size());
  for (const auto& slot : slots_) {
    infos.push_back(SlotInfo{slot->key(), slot->accepting(), slot->n_jobs()});
    if (!slot->accepting()) continue;
    kv_free += slot->engine().kv_free_blocks();
    kv_total += slot->engine().kv_total_blocks();
  }
  kv_blocks_.store((static_cast<uint64_t>(static_cast<uint32_t>(kv_free)) << 32) |
                       static_cast<uint32_t>(kv_total),
                   std::memory_order_relaxed);
  n_engines_.store(static_cast<int>(slots_.size()), std::memory_order_relaxed);
  if (config_.metrics != nullptr) {
    config_.metrics->load(n_running, n_waiting, kv_total - kv_free, kv_total);
  }
  {
    std::lock_guard<std::mutex> lock(slots_mu_);
    if (infos != slot_infos_) slot_infos_ = std::move(infos);
  }
  n_applied_.store(n_taken_, std::memory_order_release);
}

}  // namespace rs::worker
