#include "rs/worker/models/model_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace rs::worker::models {

ModelManager::ModelManager(ModelManagerOptions options)
    : options_(std::move(options)),
      watcher_(WatcherOptions{.redis = options_.redis, .keys = options_.keys, .serve = options_.serve,
                              .poll_ms = options_.poll_ms, .subscribe = options_.subscribe,
                              .wake = options_.wake_watcher}),
      loader_(LoaderOptions{.redis = options_.redis, .keys = options_.keys, .wake = options_.wake_loader}),
      planner_(options_.max_model_bytes) {}

ModelManager::~ModelManager() { stop(); }

void ModelManager::start() {
  loader_.start();
  watcher_.start();
}

void ModelManager::stop() {
  watcher_.stop();
  loader_.stop();
  (void)loader_.take_results();
  models_.clear();
}

std::vector<std::string> ModelManager::no_chat() const {
  std::vector<std::string> out;
  for (const std::string& key : keys_) {
    auto it = models_.find(key);
    if (it != models_.end() && it->second->chat_template() == nullptr) {
      out.push_back(key + ": " + it->second->chat_template_error());
    }
  }
  return out;
}

bool ModelManager::serves(const std::string& key) const {
  return std::binary_search(keys_.begin(), keys_.end(), key);
}

bool ModelManager::turn(const std::vector<DeviceHost*>& hosts) {
  take_wanted();
  take_results();
  notice_drained(hosts);
  for (const PlanAction& a : planner_.plan()) execute(a, hosts);
  std::vector<std::string> now = planner_.serving();
  if (now == keys_) return false;
  keys_ = std::move(now);
  return true;
}

void ModelManager::take_wanted() {
  std::optional<WantedSet> w = watcher_.take();
  if (!w) return;
  std::map<std::string, WantedModel> wanted;
  std::string names;
  for (auto& [key, record] : w->models) {
    wanted[key] = WantedModel{record.name, record.size_bytes};
    records_[key] = record;
    names += (names.empty() ? "" : ",") + key;
  }
  spdlog::info("registry epoch {}: wanted {}", w->epoch, names.empty() ? "(none)" : names);
  planner_.set_wanted(std::move(wanted));
}

void ModelManager::take_results() {
  for (LoadResult& r : loader_.take_results()) {
    if (!r.ok) {
      planner_.on_failed(r.key);
      timing_.erase(r.key);
      continue;
    }
    InstallTiming& t = timing_[r.key];
    t.key = r.key;
    if (r.kind == LoadKind::kVerify) {
      t.verify_us = r.elapsed_us;
      planner_.on_verified(r.key);
    } else {
      t.load_us = r.elapsed_us;
      models_[r.key] = std::move(r.model);
      planner_.on_loaded(r.key);
    }
  }
}

// A retired key is drained once every device applied the retire and holds no engine for it.
void ModelManager::notice_drained(const std::vector<DeviceHost*>& hosts) {
  for (const std::string& key : planner_.draining()) {
    const std::vector<uint64_t>& marks = retire_marks_[key];
    bool drained = true;
    for (size_t i = 0; i < hosts.size() && drained; ++i) {
      const uint64_t mark = i < marks.size() ? marks[i] : 0;
      drained = hosts[i]->n_applied() >= mark && !hosts[i]->holds(key);
    }
    if (drained) {
      retire_marks_.erase(key);
      planner_.on_drained(key);
    }
  }
}

void ModelManager::execute(const PlanAction& a, const std::vector<DeviceHost*>& hosts) {
  spdlog::info("model {}: {}{}{}", a.key, plan_op_name(a.op), a.reason.empty() ? "" : ": ", a.reason);
  auto record = records_.find(a.key);
  switch (a.op) {
    case PlanOp::kVerify:
    case PlanOp::kLoad:
      if (record == records_.end()) return planner_.on_failed(a.key);  // cannot happen
      loader_.post(LoadRequest{a.op == PlanOp::kVerify ? LoadKind::kVerify : LoadKind::kLoad, a.key,
                               record->second, {}});
      return;
    case PlanOp::kFail:
      if (record != records_.end()) {
        loader_.post(LoadRequest{LoadKind::kReportError, a.key, record->second, a.reason});
      }
      return;
    case PlanOp::kInstall: return install(a.key, hosts);
    case PlanOp::kRetire: return retire(a.key, hosts);
    case PlanOp::kRelease:
      models_.erase(a.key);  // the engines dropped theirs: the weights go now
      timing_.erase(a.key);
      return;
  }
}

// An engine for the key on every device (built here, posted to each engine thread). A device
// that cannot build one fails the key everywhere.
void ModelManager::install(const std::string& key, const std::vector<DeviceHost*>& hosts) {
  auto model = models_.find(key);
  Status s = model == models_.end() ? internal_error("model not loaded") : Status();
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < hosts.size() && s.ok(); ++i) s = hosts[i]->add_model(key, model->second);
  if (!s.ok()) {
    retire(key, hosts);
    planner_.on_failed(key);
    models_.erase(key);
    auto record = records_.find(key);
    if (record != records_.end()) {
      loader_.post(LoadRequest{LoadKind::kReportError, key, record->second, "install: " + s.to_string()});
    }
    return;
  }
  InstallTiming t = timing_[key];
  t.key = key;
  t.install_us = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - t0)
                     .count();
  spdlog::info("model {}: serving on {} device(s) (verify {:.1f} ms, load {:.1f} ms, install {:.1f} ms)",
               key, hosts.size(), t.verify_us / 1e3, t.load_us / 1e3, t.install_us / 1e3);
  installs_.push_back(t);
}

void ModelManager::retire(const std::string& key, const std::vector<DeviceHost*>& hosts) {
  std::vector<uint64_t> marks;
  for (DeviceHost* h : hosts) {
    h->retire_model(key);
    marks.push_back(h->n_posted());
  }
  retire_marks_[key] = std::move(marks);
}

}  // namespace rs::worker::models
