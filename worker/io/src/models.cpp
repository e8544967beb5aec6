// WorkerLoop: the model keys it serves. File mode: the one model name. Registry mode: the
// ModelManager's keys, advanced once per loop turn; a change goes out in a heartbeat at once.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "rs/worker/io/worker_loop.h"

namespace rs::worker::io {

// Draining: none (the broker routes no new job here).
std::vector<std::string> WorkerLoop::model_keys() const {
  if (drain_phase_ != DrainPhase::kNone) return {};
  if (options_.registry) return models_ != nullptr ? models_->keys() : std::vector<std::string>{};
  return {options_.model_name};
}

std::vector<std::string> WorkerLoop::no_chat() const {
  if (drain_phase_ != DrainPhase::kNone) return {};
  if (options_.registry) return models_ != nullptr ? models_->no_chat() : std::vector<std::string>{};
  if (model_ == nullptr || model_->chat_template() != nullptr) return {};
  return {options_.model_name + ": " + model_->chat_template_error()};
}

bool WorkerLoop::serves(const std::string& key) const {
  if (options_.registry) return models_ != nullptr && models_->serves(key);
  return key == options_.model_name;
}

void WorkerLoop::turn_models() {
  if (models_ == nullptr) return;
  const bool changed = models_->turn(host_ptrs_);
  counters_.models_held.store(models_->n_models_held(), std::memory_order_relaxed);
  if (!models_ready_ && models_->settled()) {
    models_ready_ = true;
    spdlog::info("worker {}: models ready", options_.worker_id);
  }
  if (!changed) return;
  counters_.model_changes.fetch_add(1, std::memory_order_relaxed);
  metrics_->models_changed();
  for (const models::InstallTiming& t : models_->installs()) {
    if (t.load_us > 0) metrics_->model_loaded(t.key, static_cast<double>(t.load_us) / 1e6);
  }
  {
    std::lock_guard<std::mutex> lock(keys_mu_);
    advertised_ = model_keys();
  }
  // The broker must stop routing a retired key (and start routing a new one) now, not at
  // the next interval.
  if (connected_ && state_ == State::kRegistered && healthy()) send_heartbeat();
}

}  // namespace rs::worker::io
