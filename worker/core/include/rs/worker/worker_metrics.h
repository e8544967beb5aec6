// WorkerMetrics: a worker's Prometheus metrics (docs/METRICS.md): the Registry, the
// families, and one DeviceMetrics per device. A DeviceMetrics is updated by its device's
// engine thread only (it caches per-model series there); the worker-level calls belong to
// the worker's I/O thread; the metrics server's thread renders. Every update is atomic.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "rs/engine/engine.h"
#include "rs/metrics/metrics.h"

namespace rs::worker {

class WorkerMetrics;

class DeviceMetrics {
 public:
  DeviceMetrics(WorkerMetrics& worker, int device);

  void step(double seconds, int n_seqs, int n_tokens, int n_preempted);
  void load(int running, int waiting, int kv_used, int kv_total);
  // A job's token: its first (ttft_s since the device got it) or a later one (itl_s since
  // the job's previous token). model_key: "name" or "name@version".
  void first_token(const std::string& model_key, double ttft_s);
  void next_token(const std::string& model_key, double itl_s);
  void finished(const std::string& model_key, engine::FinishReason reason,
                const engine::Usage& usage, double e2e_s);

 private:
  struct ModelSeries {
    metrics::Counter* prompt_tokens;
    metrics::Counter* generation_tokens;
    metrics::Histogram* ttft;
    metrics::Histogram* itl;
    metrics::Histogram* e2e;
    metrics::Histogram* queue;
  };
  ModelSeries& model(const std::string& key);

  WorkerMetrics& worker_;
  std::string device_;
  metrics::Gauge& running_;
  metrics::Gauge& waiting_;
  metrics::Gauge& kv_used_;
  metrics::Gauge& kv_total_;
  metrics::Counter& cache_queries_;
  metrics::Counter& cache_hits_;
  metrics::Counter& preemptions_;
  metrics::Counter& engine_errors_;
  metrics::Histogram& step_;
  metrics::Histogram& batch_seqs_;
  metrics::Histogram& batch_tokens_;
  std::unordered_map<std::string, ModelSeries> models_;  // by model key
};

class WorkerMetrics {
 public:
  WorkerMetrics(std::string worker_id, int n_devices);
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  metrics::Registry& registry() { return registry_; }
  const std::string& worker_id() const { return worker_; }
  DeviceMetrics* device(int d) { return d >= 0 && d < static_cast<int>(devices_.size()) ? devices_[d].get() : nullptr; }

  // I/O thread.
  void model_loaded(const std::string& model_key, double seconds);
  void models_changed() { swaps_.inc(); }
  void broker_linked(bool linked) { linked_.set(linked ? 1 : 0); }

 private:
  friend class DeviceMetrics;
  std::string worker_;
  metrics::Registry registry_;
  metrics::Family<metrics::Gauge>& running_;
  metrics::Family<metrics::Gauge>& waiting_;
  metrics::Family<metrics::Gauge>& kv_used_;
  metrics::Family<metrics::Gauge>& kv_total_;
  metrics::Family<metrics::Counter>& cache_queries_;
  metrics::Family<metrics::Counter>& cache_hits_;
  metrics::Family<metrics::Counter>& preemptions_;
  metrics::Family<metrics::Counter>& engine_errors_;
  metrics::Family<metrics::Histogram>& step_;
  metrics::Family<metrics::Histogram>& batch_seqs_;
  metrics::Family<metrics::Histogram>& batch_tokens_;
  metrics::Family<metrics::Counter>& prompt_tokens_;
  metrics::Family<metrics::Counter>& generation_tokens_;
  metrics::Family<metrics::Histogram>& ttft_;
  metrics::Family<metrics::Histogram>& itl_;
  metrics::Family<metrics::Histogram>& e2e_;
  metrics::Family<metrics::Histogram>& queue_;
  metrics::Family<metrics::Counter>& finished_;
  metrics::Family<metrics::Gauge>& load_seconds_;
  metrics::Counter& swaps_;
  metrics::Gauge& linked_;
  std::vector<std::unique_ptr<DeviceMetrics>> devices_;
};

}  // namespace rs::worker
