// `ringserve top`'s output: the fixed-width text view and the JSON object of a
// TopSnapshot (declared in top_view.h). Pure.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "top_view.h"

namespace rs::cli {
namespace {

using Rows = std::vector<std::vector<std::string>>;

constexpr size_t kMaxCellColumns = 32;  // a label value longer than this is cut

// Columns a UTF-8 text takes (one per code point; no wide characters assumed).
size_t columns_of(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// The first `n` columns of s (never half a UTF-8 character).
std::string first_columns(std::string_view s, size_t n) {
  size_t cols = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && cols++ == n) return std::string(s.substr(0, i));
  }
  return std::string(s);
}

// A value from the metrics (not trusted) made safe for a terminal: no control characters
// (no escape sequences), at most kMaxCellColumns columns.
std::string safe_cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  if (columns_of(out) > kMaxCellColumns) out = first_columns(out, kMaxCellColumns - 3) + "...";
  return out;
}

std::string printf_string(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// 12, 12.3k, 4.5M: counts and totals.
std::string fmt_count(double v) {
  if (!std::isfinite(v)) return "-";
  const double a = std::fabs(v);
  if (a >= 1e9) return printf_string("%.1fG", v / 1e9);
  if (a >= 1e6) return printf_string("%.1fM", v / 1e6);
  if (a >= 1e4) return printf_string("%.1fk", v / 1e3);
  return printf_string("%.0f", v);
}

// 0.0, 12.5, 1234, 12.3k: per-second rates.
std::string fmt_rate(double v) {
  if (!std::isfinite(v)) return "-";
  if (std::fabs(v) >= 1e4) return fmt_count(v);
  return printf_string(std::fabs(v) >= 100 ? "%.0f" : "%.1f", v);
}

// 850us, 12.5ms, 1.25s; "-" when empty.
std::string fmt_seconds(std::optional<double> s) {
  if (!s || !std::isfinite(*s)) return "-";
  if (*s == 0) return "0s";
  if (*s < 0.001) return printf_string("%.0fus", *s * 1e6);
  if (*s < 0.1) return printf_string("%.1fms", *s * 1e3);
  if (*s < 1) return printf_string("%.0fms", *s * 1e3);
  return printf_string("%.2fs", *s);
}

std::string fmt_percent(std::optional<double> p) { return p ? printf_string("%.1f", *p) : "-"; }

// "3 (+1)": a total and its increase in the window.
std::string fmt_total_delta(const TopCount& c) { return fmt_count(c.total) + " (+" + fmt_count(c.delta) + ")"; }

// Columns padded to the widest cell plus two spaces; `right` columns right-aligned.
std::vector<std::string> table_lines(const Rows& rows, const std::vector<bool>& right) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], columns_of(row[i]));
  }
  std::vector<std::string> out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - columns_of(row[i]), ' ');
      const bool r = i < right.size() && right[i];
      line += r ? pad + row[i] : row[i] + (i + 1 < row.size() ? pad : "");
      if (i + 1 < row.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.push_back(std::move(line));
  }
  return out;
}

// `head` then the items separated by two spaces, wrapped at `width` (continuations indented).
std::vector<std::string> wrap_items(const std::string& head, const std::vector<std::string>& items,
                                    size_t width) {
  std::vector<std::string> out{head};
  for (const std::string& item : items) {
    std::string& line = out.back();
    if (columns_of(line) + 2 + columns_of(item) > width && columns_of(line) > head.size()) {
      out.push_back(std::string(head.size(), ' ') + "  " + item);
    } else {
      line += "  " + item;
    }
  }
  return out;
}

void append_section(std::vector<std::string>& lines, const std::vector<std::string>& more) {
  if (!lines.empty()) lines.emplace_back();
  lines.insert(lines.end(), more.begin(), more.end());
}

std::vector<std::string> header_lines(const TopSnapshot& s) {
  size_t up = 0, ready = 0;
  for (const TopEndpoint& e : s.endpoints) {
    up += e.reachable ? 1 : 0;
    ready += e.ready.value_or(false) ? 1 : 0;
  }
  std::string head = "ringserve top  window " + printf_string("%.1fs", s.seconds) + "  endpoints " +
                     std::to_string(up) + "/" + std::to_string(s.endpoints.size()) + " up, " +
                     std::to_string(ready) + " ready";
  std::vector<std::string> items;
  const TopPool& p = s.pool;
  if (p.workers_live) items.push_back("workers " + fmt_count(*p.workers_live));
  if (p.live_jobs) items.push_back("live jobs " + fmt_count(*p.live_jobs));
  if (p.redis_up) items.push_back(std::string("redis ") + (*p.redis_up > 0 ? "up" : "DOWN"));
  if (p.broker_up) items.push_back(std::string("gateway->broker ") + (*p.broker_up > 0 ? "up" : "DOWN"));
  if (p.active_streams) items.push_back("sse streams " + fmt_count(*p.active_streams));
  std::vector<std::string> out{head};
  if (!items.empty()) {
    std::string pool = "pool";
    for (const std::string& i : items) pool += "  " + i;
    out.push_back(pool);
  }
  return out;
}

std::vector<std::string> endpoint_lines(const TopSnapshot& s) {
  Rows rows{{"ENDPOINT", "STATE", "READY", "DETAIL"}};
  for (const TopEndpoint& e : s.endpoints) {
    std::string ready = !e.reachable ? "-" : !e.ready ? "?" : *e.ready ? "ready" : "NOT READY";
    std::string detail = e.url;
    if (!e.reachable) {
      detail = e.error;
    } else if (e.ready == false) {
      detail = e.reason + (e.detail.empty() ? "" : ": " + e.detail);
    }
    rows.push_back({safe_cell(e.name), e.reachable ? "up" : "DOWN", ready, safe_cell(detail)});
  }
  return table_lines(rows, {});
}

std::vector<std::string> device_lines(const TopSnapshot& s) {
  if (s.devices.empty()) return {"no devices (no worker metrics)"};
  Rows rows{{"WORKER", "DEV", "RUN", "WAIT", "KV USED/CAP", "KV%", "HIT%", "ENGINE ERR"}};
  for (const TopDevice& d : s.devices) {
    std::string hit = d.prefix_hit_rate ? fmt_percent(*d.prefix_hit_rate * 100) : "-";
    if (d.prefix_hit_source == "total") hit += "*";
    rows.push_back({safe_cell(d.worker), safe_cell(d.device), fmt_count(d.running), fmt_count(d.waiting),
                    fmt_count(d.kv_used) + "/" + fmt_count(d.kv_capacity), fmt_percent(d.kv_percent), hit,
                    fmt_total_delta(d.engine_errors)});
  }
  return table_lines(rows, {false, false, true, true, true, true, true, true});
}

std::vector<std::string> queue_lines(const TopSnapshot& s) {
  if (s.queues.empty()) return {};
  Rows rows{{"QUEUE MODEL", "PRIORITY", "DEPTH", "OLDEST"}};
  for (const TopQueue& q : s.queues) {
    rows.push_back({safe_cell(q.model), safe_cell(q.priority), fmt_count(q.depth), fmt_seconds(q.oldest_age_s)});
  }
  return table_lines(rows, {false, false, true, true});
}

std::vector<std::string> throughput_lines(const TopSnapshot& s) {
  Rows rows{{"MODEL", "GEN TOK/S", "PROMPT TOK/S", "ACCEPTED/S", "ENDED/S", "GEN TOKENS", "PROMPT TOKENS"}};
  for (const TopModel& m : s.models) {
    rows.push_back({safe_cell(m.model), fmt_rate(m.generation_tokens.per_s), fmt_rate(m.prompt_tokens.per_s),
                    fmt_rate(m.jobs_accepted.per_s), fmt_rate(m.jobs_ended.per_s),
                    fmt_count(m.generation_tokens.total), fmt_count(m.prompt_tokens.total)});
  }
  return table_lines(rows, {false, true, true, true, true, true, true});
}

std::vector<std::string> latency_lines(const TopSnapshot& s, bool& from_totals) {
  Rows rows{{"MODEL", "TTFT P50", "P90", "P99", "N", "ITL P50", "P90", "P99", "N"}};
  auto n_of = [&](const TopQuantiles& q) {
    from_totals = from_totals || q.source == "total";
    return fmt_count(q.observations) + (q.source == "total" ? "*" : "");
  };
  for (const TopModel& m : s.models) {
    rows.push_back({safe_cell(m.model), fmt_seconds(m.ttft.p50), fmt_seconds(m.ttft.p90), fmt_seconds(m.ttft.p99),
                    n_of(m.ttft), fmt_seconds(m.itl.p50), fmt_seconds(m.itl.p90), fmt_seconds(m.itl.p99),
                    n_of(m.itl)});
  }
  return table_lines(rows, {false, true, true, true, true, true, true, true, true});
}

std::vector<std::string> job_and_error_lines(const TopSnapshot& s, size_t width) {
  std::vector<std::string> jobs{"accepted " + fmt_total_delta(s.jobs_accepted),
                                "ended " + fmt_total_delta(s.jobs_ended)};
  for (const auto& [state, c] : s.jobs_ended_by_state) jobs.push_back(safe_cell(state) + " " + fmt_total_delta(c));
  const TopErrors& e = s.errors;
  std::vector<std::string> errors{"rejected " + fmt_total_delta(e.rejected)};
  for (const auto& [code, c] : e.rejected_by_code) errors.push_back("  " + safe_cell(code) + " " + fmt_total_delta(c));
  errors.push_back("engine " + fmt_total_delta(e.engine));
  errors.push_back("malformed " + fmt_total_delta(e.malformed_messages));
  errors.push_back("redis " + fmt_total_delta(e.redis));
  errors.push_back("slow-subscriber drops " + fmt_total_delta(e.slow_subscriber_drops));
  errors.push_back("dead letters " + fmt_total_delta(e.dead_letters));
  std::vector<std::string> out = wrap_items("JOBS  ", jobs, width);
  const auto more = wrap_items("ERRORS", errors, width);
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

nlohmann::json count_json(const TopCount& c) {
  return {{"total", c.total}, {"delta", c.delta}, {"per_s", c.per_s}};
}

nlohmann::json counts_json(const std::map<std::string, TopCount>& by) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, c] : by) j[k] = count_json(c);
  return j;
}

nlohmann::json optional_json(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json();
}

nlohmann::json quantiles_json(const TopQuantiles& q) {
  return {{"p50", optional_json(q.p50)}, {"p90", optional_json(q.p90)}, {"p99", optional_json(q.p99)},
          {"observations", q.observations}, {"source", q.source}};
}

nlohmann::json top_endpoint_json(const TopEndpoint& e) {
  return {{"name", e.name}, {"url", e.url}, {"reachable", e.reachable}, {"error", e.error},
          {"ready", e.ready ? nlohmann::json(*e.ready) : nlohmann::json()},
          {"ready_status", e.ready_status}, {"reason", e.reason}, {"detail", e.detail}};
}

nlohmann::json top_device_json(const TopDevice& d) {
  return {{"worker", d.worker}, {"device", d.device}, {"running", d.running}, {"waiting", d.waiting},
          {"kv_used", d.kv_used}, {"kv_capacity", d.kv_capacity}, {"kv_percent", optional_json(d.kv_percent)},
          {"prefix_hit_rate", optional_json(d.prefix_hit_rate)}, {"prefix_hit_source", d.prefix_hit_source},
          {"engine_errors", count_json(d.engine_errors)}, {"preemptions", count_json(d.preemptions)}};
}

nlohmann::json top_model_json(const TopModel& m) {
  return {{"model", m.model}, {"generation_tokens", count_json(m.generation_tokens)},
          {"prompt_tokens", count_json(m.prompt_tokens)}, {"jobs_accepted", count_json(m.jobs_accepted)},
          {"jobs_ended", count_json(m.jobs_ended)}, {"ttft", quantiles_json(m.ttft)},
          {"itl", quantiles_json(m.itl)}};
}

nlohmann::json errors_json(const TopErrors& e) {
  return {{"rejected", count_json(e.rejected)}, {"rejected_by_code", counts_json(e.rejected_by_code)},
          {"engine", count_json(e.engine)}, {"malformed_messages", count_json(e.malformed_messages)},
          {"redis", count_json(e.redis)}, {"slow_subscriber_drops", count_json(e.slow_subscriber_drops)},
          {"dead_letters", count_json(e.dead_letters)}};
}

}  // namespace

std::string render_text(const TopSnapshot& s, int width) {
  const size_t w = static_cast<size_t>(std::max(width, 20));
  std::vector<std::string> lines = header_lines(s);
  append_section(lines, endpoint_lines(s));
  append_section(lines, device_lines(s));
  if (!s.queues.empty()) append_section(lines, queue_lines(s));
  bool from_totals = false;
  if (!s.models.empty()) {
    append_section(lines, throughput_lines(s));
    append_section(lines, latency_lines(s, from_totals));
  }
  append_section(lines, job_and_error_lines(s, w));
  bool hit_from_totals = std::any_of(s.devices.begin(), s.devices.end(),
                                     [](const TopDevice& d) { return d.prefix_hit_source == "total"; });
  if (from_totals || hit_from_totals) {
    lines.emplace_back();
    lines.push_back("* no new observations in the window: over all of them since start");
  }
  std::string out;
  for (const std::string& line : lines) out += first_columns(line, w) + "\n";
  return out;
}

nlohmann::json to_json(const TopSnapshot& s) {
  nlohmann::json j;
  j["window_s"] = s.seconds;
  j["endpoints"] = nlohmann::json::array();
  for (const TopEndpoint& e : s.endpoints) j["endpoints"].push_back(top_endpoint_json(e));
  j["pool"] = {{"workers_live", optional_json(s.pool.workers_live)},
               {"live_jobs", optional_json(s.pool.live_jobs)},
               {"redis_up", optional_json(s.pool.redis_up)},
               {"broker_up", optional_json(s.pool.broker_up)},
               {"active_streams", optional_json(s.pool.active_streams)}};
  j["devices"] = nlohmann::json::array();
  for (const TopDevice& d : s.devices) j["devices"].push_back(top_device_json(d));
  j["queues"] = nlohmann::json::array();
  for (const TopQueue& q : s.queues) {
    j["queues"].push_back(
        {{"model", q.model}, {"priority", q.priority}, {"depth", q.depth}, {"oldest_age_s", q.oldest_age_s}});
  }
  j["models"] = nlohmann::json::array();
  for (const TopModel& m : s.models) j["models"].push_back(top_model_json(m));
  j["jobs"] = {{"accepted", count_json(s.jobs_accepted)},
               {"ended", count_json(s.jobs_ended)},
               {"ended_by_state", counts_json(s.jobs_ended_by_state)}};
  j["errors"] = errors_json(s.errors);
  return j;
}

}  // namespace rs::cli
