// RegistryWatcher: a background thread that follows the model registry for a worker. It owns
// its Redis connections (a subscriber on the events channel, unless disabled, and one for
// reads), checks the registry epoch on every event and at least every poll_ms, and when the
// epoch moved publishes the wanted set: for each served name, the records of its active and
// canary versions. start/stop belong to the owner's thread; take() to the consumer (the I/O
// thread); `wake` runs on the watcher thread after each publication.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rs/core/status.h"
#include "rs/store/keys.h"
#include "rs/store/model_registry.h"
#include "rs/store/redis_connection.h"

namespace rs::worker::models {

struct WatcherOptions {
  store::RedisOptions redis;
  store::KeySpace keys;
  std::vector<std::string> serve;  // empty: every name in the registry
  int poll_ms = 1000;              // epoch poll interval
  bool subscribe = true;           // false: polling only
  std::function<void()> wake;      // watcher thread, after a publication
};

// What the registry wants this worker to hold, as of `epoch`.
struct WantedSet {
  uint64_t epoch = 0;
  std::map<std::string, store::ModelVersion> models;  // model key ("tiny@2") -> record
};

class RegistryWatcher {
 public:
  explicit RegistryWatcher(WatcherOptions options);
  ~RegistryWatcher();  // stop()
  RegistryWatcher(const RegistryWatcher&) = delete;
  RegistryWatcher& operator=(const RegistryWatcher&) = delete;

  void start();
  void stop();
  // The newest wanted set since the last take(), if any.
  std::optional<WantedSet> take();
  uint64_t n_refreshes() const { return n_refreshes_.load(std::memory_order_relaxed); }
  uint64_t n_events() const { return n_events_.load(std::memory_order_relaxed); }

 private:
  void run();
  bool refresh(store::ModelRegistry& registry);
  bool serves(const std::string& name) const;
  void sleep_for_ms(int ms);

  WatcherOptions options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;           // wakes a polling-only watcher for stop()
  std::optional<WantedSet> mailbox_;     // under mu_
  std::optional<uint64_t> last_epoch_;   // watcher thread
  std::atomic<uint64_t> n_refreshes_{0};
  std::atomic<uint64_t> n_events_{0};
};

}  // namespace rs::worker::models
