// ModelManager: the models of a registry-mode worker. It owns the RegistryWatcher and
// ModelLoader threads, the ModelPlanner, and the worker's reference to every loaded Model
// (key -> shared_ptr); it installs and retires engines on the worker's DeviceHosts. Its
// methods belong to the worker's I/O thread (turn() once per loop turn), except that the
// watcher and loader call the wake functions from their own threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rs/engine/model.h"
#include "rs/store/keys.h"
#include "rs/store/model_registry.h"
#include "rs/store/redis_connection.h"
#include "rs/worker/device_host.h"
#include "rs/worker/models/model_loader.h"
#include "rs/worker/models/model_planner.h"
#include "rs/worker/models/registry_watcher.h"

namespace rs::worker::models {

struct ModelManagerOptions {
  store::RedisOptions redis;
  store::KeySpace keys;
  std::vector<std::string> serve;  // names served; empty: every name in the registry
  uint64_t max_model_bytes = 0;    // sum of the file sizes held; 0: unlimited
  int poll_ms = 1000;              // registry epoch poll interval
  bool subscribe = true;           // false: no pub/sub, polling only
  std::function<void()> wake_watcher;  // watcher thread: a new wanted set is ready
  std::function<void()> wake_loader;   // loader thread: a result is ready
};

// How long the steps of bringing one key in took (measured, for logs and reports).
struct InstallTiming {
  std::string key;
  int64_t verify_us = 0;
  int64_t load_us = 0;
  int64_t install_us = 0;  // Engine::create on every device and the posts to their inboxes
};

class ModelManager {
 public:
  explicit ModelManager(ModelManagerOptions options);
  ~ModelManager();  // stop()
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  void start();  // starts the watcher and the loader
  void stop();   // joins them and drops every model reference the manager holds

  // One step: takes the watcher's wanted set and the loader's results, notices drained
  // keys, and runs the planner's actions on `hosts`. true when the advertised keys changed.
  bool turn(const std::vector<DeviceHost*>& hosts);

  const std::vector<std::string>& keys() const { return keys_; }  // advertised, sorted
  bool serves(const std::string& key) const;
  // The advertised models that cannot serve chat jobs: "key: reason".
  std::vector<std::string> no_chat() const;
  // The first wanted set was read and its loads finished (or failed): READY may go out.
  bool settled() const { return planner_.settled(); }
  const ModelPlanner& planner() const { return planner_; }
  size_t n_models_held() const { return models_.size(); }
  const std::vector<InstallTiming>& installs() const { return installs_; }

 private:
  void take_wanted();
  void take_results();
  void notice_drained(const std::vector<DeviceHost*>& hosts);
  void execute(const PlanAction& action, const std::vector<DeviceHost*>& hosts);
  void install(const std::string& key, const std::vector<DeviceHost*>& hosts);
  void retire(const std::string& key, const std::vector<DeviceHost*>& hosts);

  ModelManagerOptions options_;
  RegistryWatcher watcher_;
  ModelLoader loader_;
  ModelPlanner planner_;
  std::map<std::string, store::ModelVersion> records_;  // last record seen per key
  std::map<std::string, std::shared_ptr<const engine::Model>> models_;
  std::map<std::string, std::vector<uint64_t>> retire_marks_;  // key -> hosts' n_posted
  std::map<std::string, InstallTiming> timing_;
  std::vector<InstallTiming> installs_;
  std::vector<std::string> keys_;
};

}  // namespace rs::worker::models
