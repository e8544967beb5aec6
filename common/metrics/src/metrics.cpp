#include "rs/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace rs::metrics {

const Buckets& latency_buckets() {
  static const Buckets b{0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2,
                         0.3,   0.4,    0.5,   0.75, 1.0,  1.5,  2.0,  2.5,  5.0, 10.0, 20.0,
                         30.0,  60.0};
  return b;
}

const Buckets& fast_buckets() {
  static const Buckets b{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                         0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5};
  return b;
}

const Buckets& count_buckets() {
  static const Buckets b{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  return b;
}

Histogram::Histogram(const Buckets& bounds)
    : bounds_(bounds), counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::observe(double v) {
  // The first bound >= v (Prometheus buckets are "less than or equal").
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  // The buckets are the truth: a concurrent observe() may have counted in one and not yet
  // in count_, so the count is the +Inf bucket's (never below a bucket).
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

namespace {

template <typename T>
std::unique_ptr<T> make_metric(const Buckets& buckets) {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(buckets);
  } else {
    return std::make_unique<T>();
  }
}

}  // namespace

template <typename T>
T& Family<T>::with(const std::vector<std::string>& values) {
  std::vector<std::string> key = values;
  key.resize(labels_.size());
  std::lock_guard lock(mutex_);
  auto it = children_.find(key);
  if (it == children_.end()) it = children_.emplace(std::move(key), make_metric<T>(buckets_)).first;
  return *it->second;
}

template <typename T>
void Family<T>::for_each(
    const std::function<void(const std::vector<std::string>&, const T&)>& fn) const {
  std::lock_guard lock(mutex_);
  for (const auto& [values, metric] : children_) fn(values, *metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  Entry e;
  e.type = Type::kCounter;
  e.counters = std::make_unique<Family<Counter>>(name, help, std::move(labels));
  entries_.push_back(std::move(e));
  return *entries_.back().counters;
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  Entry e;
  e.type = Type::kGauge;
  e.gauges = std::make_unique<Family<Gauge>>(name, help, std::move(labels));
  entries_.push_back(std::move(e));
  return *entries_.back().gauges;
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       const Buckets& buckets, std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  Entry e;
  e.type = Type::kHistogram;
  e.histograms = std::make_unique<Family<Histogram>>(name, help, std::move(labels), buckets);
  entries_.push_back(std::move(e));
  return *entries_.back().histograms;
}

void Registry::add_collector(std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(fn));
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

namespace {

// {a="x",b="y"} (with an extra label such as le, if given); "" with no labels at all.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + escape_label_value(i < values.size() ? values[i] : "") + "\"";
  }
  if (!extra_name.empty()) {
    out += out.empty() ? "{" : ",";
    out += std::string(extra_name) + "=\"" + std::string(extra_value) + "\"";
  }
  if (!out.empty()) out += "}";
  return out;
}

void render_head(std::string& out, const std::string& name, const std::string& help,
                 const char* type) {
  out += "# HELP " + name + " " + escape_help(help) + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

template <typename T>
void render_simple(std::string& out, const Family<T>& f, const char* type) {
  render_head(out, f.name(), f.help(), type);
  f.for_each([&](const std::vector<std::string>& values, const T& m) {
    out += f.name() + label_set(f.labels(), values) + " " + format_value(m.value()) + "\n";
  });
}

void render_histogram(std::string& out, const Family<Histogram>& f) {
  render_head(out, f.name(), f.help(), "histogram");
  f.for_each([&](const std::vector<std::string>& values, const Histogram& h) {
    const Histogram::Snapshot s = h.snapshot();
    for (size_t i = 0; i <= h.bounds().size(); ++i) {
      const std::string le = i < h.bounds().size() ? format_value(h.bounds()[i]) : "+Inf";
      out += f.name() + "_bucket" + label_set(f.labels(), values, "le", le) + " " +
             std::to_string(s.cumulative[i]) + "\n";
    }
    const std::string labels = label_set(f.labels(), values);
    out += f.name() + "_sum" + labels + " " + format_value(s.sum) + "\n";
    out += f.name() + "_count" + labels + " " + std::to_string(s.count) + "\n";
  });
}

}  // namespace

std::string Registry::render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  for (const auto& fn : collectors) fn();
  std::string out;
  std::lock_guard lock(mutex_);
  for (const Entry& e : entries_) {
    switch (e.type) {
      case Type::kCounter: render_simple(out, *e.counters, "counter"); break;
      case Type::kGauge: render_simple(out, *e.gauges, "gauge"); break;
      case Type::kHistogram: render_histogram(out, *e.histograms); break;
    }
  }
  return out;
}

}  // namespace rs::metrics
