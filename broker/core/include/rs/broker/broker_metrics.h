// BrokerMetrics: the broker's Prometheus metrics (docs/METRICS.md): it owns the Registry,
// the families updated as things happen and a collector that mirrors BrokerCounters at each
// scrape. Updated by the broker loop thread (BrokerState; the StoreWriter thread observes
// its pipeline durations); rendered, and readiness() read, by the metrics server's thread.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rs/broker/broker_counters.h"
#include "rs/core/priority.h"
#include "rs/metrics/metrics.h"
#include "rs/metrics/metrics_server.h"
#include "rs/schemas/errors.h"
#include "rs/schemas/messages.h"

namespace rs::broker {

class BrokerMetrics {
 public:
  explicit BrokerMetrics(const BrokerCounters& counters);
  BrokerMetrics(const BrokerMetrics&) = delete;
  BrokerMetrics& operator=(const BrokerMetrics&) = delete;

  metrics::Registry& registry() { return registry_; }

  // model: a model reference ("name" or "name@version"): labelled by its name.
  void accepted(const std::string& model, Priority priority);
  void rejected(schemas::ErrorCode code);
  void ended(const std::string& model, schemas::JobState state);
  void dispatched(Priority priority, double queued_s, uint32_t attempt);
  void dead_lettered() { dead_letters_.inc(); }
  void malformed(schemas::ErrorCode code);
  // A peer refused by authentication (docs/SECURITY.md): socket "workers" | "clients";
  // reason e.g. "unknown_key", "revoked", "identity_mismatch", "handshake_protocol".
  void auth_refused(const std::string& socket, const std::string& reason) {
    auth_refused_.with({socket, reason}).inc();
  }
  void allowed_keys(const std::string& socket, size_t n) {
    allowed_keys_.with({socket}).set(static_cast<double>(n));
  }
  // The command byte of a message's frames ([header, command, body]); "invalid" if none.
  void received(const std::vector<std::string>& frames);
  void sent(const std::vector<std::string>& frames);
  void turn(double seconds) { turn_.observe(seconds); }
  metrics::Histogram& redis_pipeline() { return redis_pipeline_; }

  // The loop's periodic snapshot (each replaces the last; series it does not name are 0).
  struct QueueLane {
    std::string model;
    Priority priority = Priority::kInteractive;
    size_t depth = 0;
    double oldest_age_s = 0;
  };
  void publish_queues(const std::vector<QueueLane>& lanes);
  void publish_devices(size_t workers, const std::map<std::string, size_t>& devices_by_model);
  void publish_subscribers(size_t n) { subscribers_.set(static_cast<double>(n)); }
  void publish_redis_up(bool up);

  // Ready: Redis answers and some device serves a model. Any thread.
  metrics::Readiness readiness() const;

 private:
  metrics::Counter& counter_for(std::array<std::atomic<metrics::Counter*>, 256>& cache,
                                metrics::Family<metrics::Counter>& family, uint8_t index,
                                const std::string& label);

  metrics::Registry registry_;
  metrics::Family<metrics::Counter>& accepted_;
  metrics::Family<metrics::Counter>& rejected_;
  metrics::Family<metrics::Counter>& ended_;
  metrics::Family<metrics::Histogram>& dispatch_latency_;
  metrics::Counter& redispatches_;
  metrics::Counter& dead_letters_;
  metrics::Family<metrics::Counter>& malformed_;
  metrics::Family<metrics::Counter>& auth_refused_;
  metrics::Family<metrics::Gauge>& allowed_keys_;
  metrics::Family<metrics::Counter>& received_;
  metrics::Family<metrics::Counter>& sent_;
  metrics::Histogram& turn_;
  metrics::Histogram& redis_pipeline_;
  metrics::Family<metrics::Gauge>& queue_depth_;
  metrics::Family<metrics::Gauge>& queue_age_;
  metrics::Gauge& workers_live_;
  metrics::Family<metrics::Gauge>& devices_live_;
  metrics::Gauge& subscribers_;
  metrics::Gauge& redis_up_;
  std::array<std::atomic<metrics::Counter*>, 256> received_by_command_{};
  std::array<std::atomic<metrics::Counter*>, 256> sent_by_command_{};
  std::vector<std::pair<std::string, Priority>> published_lanes_;  // loop thread
  std::vector<std::string> published_models_;                      // loop thread
  std::atomic<size_t> devices_total_{0};
  std::atomic<bool> redis_ok_{true};
};

}  // namespace rs::broker
