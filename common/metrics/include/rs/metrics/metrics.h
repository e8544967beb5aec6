// Metrics: counters, gauges and histograms in labelled families, kept in a Registry and
// rendered in the Prometheus text exposition format (0.0.4). Updating a metric is a
// relaxed atomic operation, safe from any thread; Family::with() (a map lookup under the
// family's mutex) is meant to be called once and its reference kept (it stays valid as
// long as the Registry). render() may run on any thread while others update.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace rs::metrics {

class Counter {
 public:
  void inc(double n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }
  // For a counter mirrored from a source that counts by itself (a relaxed atomic
  // elsewhere): sets its value, which must never go down.
  void set_total(double v) { value_.store(v, std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double n) { value_.fetch_add(n, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Upper bounds (le) in increasing order; +Inf is implied.
using Buckets = std::vector<double>;
// Latencies from 1 ms to 60 s (requests, tokens, dispatch).
const Buckets& latency_buckets();
// Short operations from 50 us to 2.5 s (loop turns, Redis pipelines, engine steps).
const Buckets& fast_buckets();
// Counts 1, 2, 4, ... 1024 (batch sizes).
const Buckets& count_buckets();

class Histogram {
 public:
  explicit Histogram(const Buckets& bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const Buckets& bounds() const { return bounds_; }

 private:
  Buckets bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bound, then +Inf
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

enum class Type { kCounter, kGauge, kHistogram };

// The metrics of one name, one per set of label values.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels, Buckets buckets = {})
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)),
        buckets_(std::move(buckets)) {}
  // The metric for these label values (as many as the family's labels; missing ones are
  // empty), made on first use.
  T& with(const std::vector<std::string>& values = {});
  // Calls fn(values, metric) for each metric, under the family's lock.
  void for_each(const std::function<void(const std::vector<std::string>&, const T&)>& fn) const;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  Buckets buckets_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

class Registry {
 public:
  Family<Counter>& counter(const std::string& name, const std::string& help,
                           std::vector<std::string> labels = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> labels = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               const Buckets& buckets, std::vector<std::string> labels = {});
  // Runs before each render (on the rendering thread): for values read on demand, such as
  // the process's own (/proc). Must be thread-safe.
  void add_collector(std::function<void()> fn);
  // Runs the collectors, then renders every family in registration order.
  std::string render() const;

 private:
  struct Entry {
    Type type = Type::kCounter;
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::vector<std::function<void()>> collectors_;
};

// The text format's escaping of a label value (\\, \", \n) and of a HELP text (\\, \n).
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// A sample value as the text format writes it (shortest round-trip form, +Inf, -Inf, NaN).
std::string format_value(double v);

// ringserve_build_info{program,version} 1, and the process_* families (start time, CPU
// seconds, resident memory, open descriptors) read from /proc at each render.
void add_process_metrics(Registry& registry, const std::string& program);

}  // namespace rs::metrics
