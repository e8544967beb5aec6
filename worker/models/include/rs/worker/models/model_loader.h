// ModelLoader: a background thread that verifies model files (sha256 against the registry
// record), loads them (engine::Model::load: the GGUF is validated) and records failures in
// the registry (ModelRegistry::set_error, through its own Redis connection). Requests come
// from the owner (the I/O thread) through post(); results go back through take_results().
// start/stop belong to the owner's thread; `wake` runs on the loader thread after a result.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rs/engine/model.h"
#include "rs/store/keys.h"
#include "rs/store/model_registry.h"
#include "rs/store/redis_connection.h"

namespace rs::worker::models {

struct LoaderOptions {
  store::RedisOptions redis;
  store::KeySpace keys;
  std::function<void()> wake;  // loader thread, after each result
};

enum class LoadKind {
  kVerify,       // sha256_file(record.path) must equal record.sha256, and a trial
                 // Model::load (mapping dropped at once) must succeed
  kLoad,         // engine::Model::load(record.path)
  kReportError,  // set_error(record.name, record.version, reason); no result
};

struct LoadRequest {
  LoadKind kind = LoadKind::kVerify;
  std::string key;
  store::ModelVersion record;
  std::string reason;  // kReportError
};

struct LoadResult {
  LoadKind kind = LoadKind::kVerify;
  std::string key;
  bool ok = false;
  std::shared_ptr<const engine::Model> model;  // kLoad, ok
  std::string error;                           // !ok: also written with set_error
  int64_t elapsed_us = 0;
};

class ModelLoader {
 public:
  explicit ModelLoader(LoaderOptions options);
  ~ModelLoader();  // stop()
  ModelLoader(const ModelLoader&) = delete;
  ModelLoader& operator=(const ModelLoader&) = delete;

  void start();
  // Finishes the request under way (a load is not interruptible), drops the rest, joins.
  void stop();
  void post(LoadRequest request);
  std::vector<LoadResult> take_results();

 private:
  void run();
  LoadResult execute(const LoadRequest& request);
  void report(const store::ModelVersion& record, const std::string& error);

  LoaderOptions options_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                 // under mu_
  std::deque<LoadRequest> requests_;  // under mu_
  std::vector<LoadResult> results_;   // under mu_
  std::unique_ptr<store::RedisConnection> conn_;  // loader thread
};

}  // namespace rs::worker::models
