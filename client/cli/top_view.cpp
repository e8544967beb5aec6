// `ringserve top`'s figures from two scrape rounds; the endpoint list. Pure.
#include "top_view.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>
#include <utility>

namespace rs::cli {
namespace {

using metrics::Sample;
// Label name -> value pairs a series must carry.
using LabelMatch = std::vector<std::pair<std::string_view, std::string_view>>;

constexpr char kKeySep = '\x1f';

double finite_or_zero(double v) { return std::isfinite(v) ? v : 0; }

// endpoint, name and the sorted labels (but `skip`): one series of one process.
std::string series_key(std::string_view endpoint, const Sample& s, std::string_view skip = {}) {
  std::vector<std::string> parts;
  for (const auto& [n, v] : s.labels) {
    if (n != skip) parts.push_back(n + '=' + v);
  }
  std::sort(parts.begin(), parts.end());
  std::string key(endpoint);
  key += kKeySep;
  key += s.name;
  for (const std::string& p : parts) key += kKeySep + p;
  return key;
}

bool matches(const Sample& s, const LabelMatch& match) {
  return std::all_of(match.begin(), match.end(), [&](const auto& m) {
    return metrics::label_value(s, m.first) == m.second;
  });
}

std::optional<double> start_time_of(const EndpointScrape& e) {
  for (const Sample& s : e.samples) {
    if (s.name == "process_start_time_seconds") return s.value;
  }
  return std::nullopt;
}

// Numbers by value ("2" < "10"), anything else as text.
bool natural_less(const std::string& a, const std::string& b) {
  auto digits = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (digits(a) && digits(b) && a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

double histogram_observations(const std::vector<metrics::BucketCount>& buckets) {
  double n = 0;
  for (const auto& b : buckets) {
    if (std::isinf(b.le) && b.le > 0) n += b.count;
  }
  return n;
}

std::optional<double> quantile_or_empty(double q, const std::vector<metrics::BucketCount>& b) {
  const double v = metrics::histogram_quantile(q, b);
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

// The t1 round with t0 as its baseline: what each series did in the window.
class TopWindow {
 public:
  TopWindow(const ScrapeRound& t0, const ScrapeRound& t1, double seconds)
      : t1_(t1), seconds_(seconds) {
    for (const EndpointScrape& e1 : t1) {
      const auto e0 = std::find_if(t0.begin(), t0.end(), [&](const EndpointScrape& e) {
        return e.name == e1.name && e.reachable;
      });
      if (!e1.reachable || e0 == t0.end()) continue;  // no baseline: the delta is 0
      const auto s0 = start_time_of(*e0);
      const auto s1 = start_time_of(e1);
      if (s0 && s1 && *s0 != *s1) {
        base_[e1.name] = Base::kZero;  // the process started again in the window
        continue;
      }
      base_[e1.name] = Base::kValues;
      for (const Sample& s : e0->samples) t0_values_[series_key(e1.name, s)] = s.value;
    }
  }

  double seconds() const { return seconds_; }

  // fn(endpoint, sample) for every sample `name` of every reachable endpoint at t1.
  template <typename Fn>
  void each(std::string_view name, const LabelMatch& match, Fn fn) const {
    for (const EndpointScrape& e : t1_) {
      if (!e.reachable) continue;
      for (const Sample& s : e.samples) {
        if (s.name == name && matches(s, match)) fn(e, s);
      }
    }
  }

  TopCount counter(std::string_view name, const LabelMatch& match = {}) const {
    TopCount c;
    each(name, match, [&](const EndpointScrape& e, const Sample& s) {
      c.total += finite_or_zero(s.value);
      c.delta += delta_of(e, s);
    });
    c.per_s = seconds_ > 0 ? c.delta / seconds_ : 0;
    return c;
  }

  std::optional<double> gauge(std::string_view name, const LabelMatch& match = {}) const {
    std::optional<double> sum;
    each(name, match, [&](const EndpointScrape&, const Sample& s) {
      sum = sum.value_or(0) + finite_or_zero(s.value);
    });
    return sum;
  }

  // The values label `label` takes in the samples `name`.
  void collect(std::string_view name, std::string_view label, std::set<std::string>& out) const {
    each(name, {}, [&](const EndpointScrape&, const Sample& s) {
      if (auto v = metrics::label_value(s, label)) out.insert(std::string(*v));
    });
  }

  TopQuantiles quantiles(std::string_view family, const LabelMatch& match) const;

 private:
  enum class Base { kNone, kZero, kValues };

  Base base_of(const std::string& endpoint) const {
    const auto it = base_.find(endpoint);
    return it == base_.end() ? Base::kNone : it->second;
  }

  // The value at t0 of this t1 sample's series: nullopt without a baseline, 0 for a series
  // new at t1 or a restarted process.
  std::optional<double> old_value(const EndpointScrape& e, const Sample& s) const {
    switch (base_of(e.name)) {
      case Base::kNone: return std::nullopt;
      case Base::kZero: return 0.0;
      case Base::kValues: break;
    }
    const auto it = t0_values_.find(series_key(e.name, s));
    return it == t0_values_.end() ? 0.0 : finite_or_zero(it->second);
  }

  double delta_of(const EndpointScrape& e, const Sample& s) const {
    const std::optional<double> old = old_value(e, s);
    if (!old) return 0;
    const double now = finite_or_zero(s.value);
    return now < *old ? now : now - *old;  // went down: restarted, all of it is new
  }

  const ScrapeRound& t1_;
  double seconds_;
  std::unordered_map<std::string, Base> base_;
  std::unordered_map<std::string, double> t0_values_;
};

TopQuantiles TopWindow::quantiles(std::string_view family, const LabelMatch& match) const {
  struct Bucket {
    double le, now;
    std::optional<double> old;
  };
  std::map<std::string, std::vector<Bucket>> series;  // by series (le aside)
  each(std::string(family) + "_bucket", match, [&](const EndpointScrape& e, const Sample& s) {
    const auto le_text = metrics::label_value(s, "le");
    const auto le = le_text ? metrics::parse_sample_value(*le_text) : std::nullopt;
    if (!le) return;
    series[series_key(e.name, s, "le")].push_back({*le, finite_or_zero(s.value), old_value(e, s)});
  });
  std::vector<metrics::BucketCount> total, window;
  for (const auto& [key, buckets] : series) {
    // A bucket that went down: the process restarted, every bucket counts anew.
    const bool reset = std::any_of(buckets.begin(), buckets.end(),
                                   [](const Bucket& b) { return b.old && b.now < *b.old; });
    for (const Bucket& b : buckets) {
      total.push_back({b.le, b.now});
      if (b.old) window.push_back({b.le, reset ? b.now : b.now - *b.old});
    }
  }
  TopQuantiles q;
  const std::vector<metrics::BucketCount>* from = nullptr;
  if (double n = histogram_observations(window); n > 0) {
    q.source = "window";
    q.observations = n;
    from = &window;
  } else if (double all = histogram_observations(total); all > 0) {
    q.source = "total";
    q.observations = all;
    from = &total;
  }
  if (from != nullptr) {
    q.p50 = quantile_or_empty(0.5, *from);
    q.p90 = quantile_or_empty(0.9, *from);
    q.p99 = quantile_or_empty(0.99, *from);
  }
  return q;
}

std::vector<TopEndpoint> endpoints_of(const ScrapeRound& t1) {
  std::vector<TopEndpoint> out;
  for (const EndpointScrape& e : t1) {
    TopEndpoint t{.name = e.name, .url = e.url, .reachable = e.reachable, .error = e.error,
                  .ready = std::nullopt, .ready_status = e.ready_status,
                  .reason = e.ready_reason, .detail = e.ready_detail};
    if (e.ready_status == 200) t.ready = true;
    if (e.ready_status == 503) t.ready = false;
    out.push_back(std::move(t));
  }
  return out;
}

constexpr std::string_view kDeviceGauges[] = {"ringserve_sequences_running", "ringserve_sequences_waiting",
                                              "ringserve_kv_blocks_used", "ringserve_kv_blocks_capacity"};
constexpr std::string_view kDeviceCounters[] = {"ringserve_prefix_cache_queries_total",
                                                "ringserve_prefix_cache_hits_total",
                                                "ringserve_engine_errors_total",
                                                "ringserve_preemptions_total"};

TopDevice device_of(const TopWindow& w, const std::string& worker, const std::string& device) {
  const LabelMatch at{{"worker", worker}, {"device", device}};
  TopDevice d;
  d.worker = worker;
  d.device = device;
  d.running = w.gauge(kDeviceGauges[0], at).value_or(0);
  d.waiting = w.gauge(kDeviceGauges[1], at).value_or(0);
  d.kv_used = w.gauge(kDeviceGauges[2], at).value_or(0);
  d.kv_capacity = w.gauge(kDeviceGauges[3], at).value_or(0);
  if (d.kv_capacity > 0) d.kv_percent = d.kv_used / d.kv_capacity * 100;
  const TopCount queries = w.counter(kDeviceCounters[0], at);
  const TopCount hits = w.counter(kDeviceCounters[1], at);
  if (queries.delta > 0) {
    d.prefix_hit_rate = hits.delta / queries.delta;
    d.prefix_hit_source = "window";
  } else if (queries.total > 0) {
    d.prefix_hit_rate = hits.total / queries.total;
    d.prefix_hit_source = "total";
  }
  d.engine_errors = w.counter(kDeviceCounters[2], at);
  d.preemptions = w.counter(kDeviceCounters[3], at);
  return d;
}

std::vector<TopDevice> devices_of(const TopWindow& w) {
  std::set<std::pair<std::string, std::string>> keys;
  auto add_keys = [&](std::string_view name) {
    w.each(name, {}, [&](const EndpointScrape&, const Sample& s) {
      const auto worker = metrics::label_value(s, "worker");
      const auto device = metrics::label_value(s, "device");
      if (worker && device) keys.emplace(std::string(*worker), std::string(*device));
    });
  };
  for (std::string_view name : kDeviceGauges) add_keys(name);
  for (std::string_view name : kDeviceCounters) add_keys(name);
  std::vector<TopDevice> out;
  for (const auto& [worker, device] : keys) out.push_back(device_of(w, worker, device));
  std::sort(out.begin(), out.end(), [](const TopDevice& a, const TopDevice& b) {
    if (a.worker != b.worker) return natural_less(a.worker, b.worker);
    return natural_less(a.device, b.device);
  });
  return out;
}

std::vector<TopQueue> queues_of(const TopWindow& w) {
  std::set<std::pair<std::string, std::string>> keys;
  for (std::string_view name : {"ringserve_queue_depth", "ringserve_queue_oldest_age_seconds"}) {
    w.each(name, {}, [&](const EndpointScrape&, const Sample& s) {
      const auto model = metrics::label_value(s, "model");
      const auto priority = metrics::label_value(s, "priority");
      if (model && priority) keys.emplace(std::string(*model), std::string(*priority));
    });
  }
  std::vector<TopQueue> out;
  for (const auto& [model, priority] : keys) {
    const LabelMatch at{{"model", model}, {"priority", priority}};
    out.push_back({.model = model, .priority = priority,
                   .depth = w.gauge("ringserve_queue_depth", at).value_or(0),
                   .oldest_age_s = w.gauge("ringserve_queue_oldest_age_seconds", at).value_or(0)});
  }
  return out;
}

constexpr std::string_view kTtft = "ringserve_time_to_first_token_seconds";
constexpr std::string_view kItl = "ringserve_inter_token_latency_seconds";

std::vector<TopModel> models_of(const TopWindow& w) {
  std::set<std::string> names;
  for (std::string_view family : {"ringserve_generation_tokens_total", "ringserve_prompt_tokens_total",
                                  "ringserve_jobs_accepted_total", "ringserve_jobs_ended_total"}) {
    w.collect(family, "model", names);
  }
  w.collect(std::string(kTtft) + "_bucket", "model", names);
  w.collect(std::string(kItl) + "_bucket", "model", names);
  std::vector<TopModel> out;
  for (const std::string& m : names) {
    const LabelMatch of{{"model", m}};
    out.push_back({.model = m,
                   .generation_tokens = w.counter("ringserve_generation_tokens_total", of),
                   .prompt_tokens = w.counter("ringserve_prompt_tokens_total", of),
                   .jobs_accepted = w.counter("ringserve_jobs_accepted_total", of),
                   .jobs_ended = w.counter("ringserve_jobs_ended_total", of),
                   .ttft = w.quantiles(kTtft, of),
                   .itl = w.quantiles(kItl, of)});
  }
  return out;
}

std::map<std::string, TopCount> counter_by(const TopWindow& w, std::string_view name,
                                           std::string_view label) {
  std::set<std::string> values;
  w.collect(name, label, values);
  std::map<std::string, TopCount> out;
  for (const std::string& v : values) out[v] = w.counter(name, {{label, v}});
  return out;
}

TopErrors errors_of(const TopWindow& w) {
  TopErrors e;
  e.rejected = w.counter("ringserve_jobs_rejected_total");
  e.rejected_by_code = counter_by(w, "ringserve_jobs_rejected_total", "code");
  e.engine = w.counter("ringserve_engine_errors_total");
  e.malformed_messages = w.counter("ringserve_malformed_messages_total");
  e.redis = w.counter("ringserve_redis_errors_total");
  e.slow_subscriber_drops = w.counter("ringserve_slow_subscriber_drops_total");
  e.dead_letters = w.counter("ringserve_dead_letters_total");
  return e;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

Status check_endpoint(const MetricsEndpoint& e) {
  if (e.name.empty() || e.name.size() > 64 || !std::all_of(e.name.begin(), e.name.end(), is_name_char)) {
    return invalid_argument("bad endpoint name '" + e.name.substr(0, 64) + "' (want 1-64 of [A-Za-z0-9._-])");
  }
  if (e.url.rfind("http://", 0) != 0 || e.url.size() <= 7) {
    return invalid_argument("endpoint " + e.name + ": want an http:// URL, got '" + e.url.substr(0, 200) + "'");
  }
  return Status();
}

}  // namespace

Result<std::vector<MetricsEndpoint>> parse_metrics_file(std::string_view text) {
  std::vector<MetricsEndpoint> out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = std::min(text.find('\n', pos), text.size());
    std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    std::vector<std::string> words;
    for (size_t i = 0; i < line.size();) {
      const size_t start = line.find_first_not_of(" \t\r", i);
      if (start == std::string::npos) break;
      const size_t stop = std::min(line.find_first_of(" \t\r", start), line.size());
      words.push_back(line.substr(start, stop - start));
      i = stop;
    }
    if (words.empty() || words[0][0] == '#') continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (words.size() != 2) return invalid_argument(where + "want `NAME URL`");
    MetricsEndpoint e{words[0], words[1]};
    if (Status s = check_endpoint(e); !s.ok()) return invalid_argument(where + s.message());
    for (const MetricsEndpoint& seen : out) {
      if (seen.name == e.name) return invalid_argument(where + "endpoint " + e.name + " listed twice");
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<MetricsEndpoint> parse_metrics_arg(std::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos) {
    return invalid_argument("--metrics '" + std::string(arg.substr(0, 200)) + "': want NAME=URL");
  }
  MetricsEndpoint e{std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1))};
  RS_RETURN_IF_ERROR(check_endpoint(e));
  return e;
}

void apply_readyz(EndpointScrape& scrape, int status, std::string_view body) {
  scrape.ready_status = status;
  scrape.ready_reason.clear();
  scrape.ready_detail.clear();
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return;
  if (auto it = j.find("reason"); it != j.end() && it->is_string()) scrape.ready_reason = it->get<std::string>();
  if (auto it = j.find("detail"); it != j.end() && it->is_string()) scrape.ready_detail = it->get<std::string>();
}

TopSnapshot compute_top(const ScrapeRound& t0, const ScrapeRound& t1, double seconds) {
  const TopWindow w(t0, t1, seconds);
  TopSnapshot s;
  s.seconds = seconds;
  s.endpoints = endpoints_of(t1);
  s.pool = TopPool{.workers_live = w.gauge("ringserve_workers_live"),
                   .live_jobs = w.gauge("ringserve_live_jobs"),
                   .redis_up = w.gauge("ringserve_redis_up"),
                   .broker_up = w.gauge("ringserve_broker_up"),
                   .active_streams = w.gauge("ringserve_http_active_streams")};
  s.devices = devices_of(w);
  s.queues = queues_of(w);
  s.models = models_of(w);
  s.jobs_accepted = w.counter("ringserve_jobs_accepted_total");
  s.jobs_ended = w.counter("ringserve_jobs_ended_total");
  s.jobs_ended_by_state = counter_by(w, "ringserve_jobs_ended_total", "state");
  s.errors = errors_of(w);
  return s;
}

}  // namespace rs::cli
