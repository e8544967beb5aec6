// The core of `ringserve top`: from two scrape rounds of a pool's metrics endpoints (t0 and
// t1, `seconds` apart) the figures the view shows (TopSnapshot), its fixed-width text and
// its JSON; and the endpoint list (var/metrics, --metrics NAME=URL). Pure: no sockets, no
// clock, no state; any thread. The shell (top_command.cpp, top_http.h) does the I/O.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "rs/core/result.h"
#include "rs/metrics/text_parser.h"

namespace rs::cli {

// Where one process serves /metrics and /readyz: a name ("broker", "worker-1") and a base
// URL ("http://127.0.0.1:41234").
struct MetricsEndpoint {
  std::string name;
  std::string url;
};

// The `NAME URL` lines of var/metrics (blank lines and '#' comments skipped); an error
// naming the line for anything else, or a name listed twice.
Result<std::vector<MetricsEndpoint>> parse_metrics_file(std::string_view text);
// A --metrics argument `NAME=URL`.
Result<MetricsEndpoint> parse_metrics_arg(std::string_view arg);

// What one endpoint answered in one scrape round.
struct EndpointScrape {
  std::string name;
  std::string url;
  bool reachable = false;  // /metrics answered 200 with a text that parsed
  std::string error;       // why not: "connection refused", "HTTP 500", "line 3: ..."
  std::vector<metrics::Sample> samples;
  int ready_status = 0;      // /readyz's HTTP status; 0: no answer
  std::string ready_reason;  // a 503's "reason" ("engine_stalled", ...)
  std::string ready_detail;  // and its "detail"
};
using ScrapeRound = std::vector<EndpointScrape>;

// Records /readyz's answer (status and JSON body {"ready","reason","detail"}) in `scrape`;
// a body that is not such JSON leaves reason and detail empty.
void apply_readyz(EndpointScrape& scrape, int status, std::string_view body);

// A counter over the window: its value at t1 (summed over the series it covers), the
// increase since t0 and that per second. A series whose value went down (or whose process
// started again: process_start_time_seconds changed) counts its whole new value; a series
// new at t1 counts its value; an endpoint not reachable at t0 adds nothing to the delta.
struct TopCount {
  double total = 0;
  double delta = 0;
  double per_s = 0;
};

// p50/p90/p99 (seconds) of a latency histogram summed over workers. source: "window" (from
// the bucket increases between t0 and t1), "total" (no new observation in the window: from
// the cumulative buckets at t1) or "none" (no observation at all: quantiles empty).
struct TopQuantiles {
  std::optional<double> p50, p90, p99;
  double observations = 0;  // in the window, or in all (per source)
  std::string source = "none";
};

struct TopEndpoint {
  std::string name;
  std::string url;
  bool reachable = false;
  std::string error;
  std::optional<bool> ready;  // empty: /readyz gave neither 200 nor 503
  int ready_status = 0;
  std::string reason;
  std::string detail;
};

// One engine instance: ringserve_* series with labels worker and device.
struct TopDevice {
  std::string worker;
  std::string device;
  double running = 0;
  double waiting = 0;
  double kv_used = 0;
  double kv_capacity = 0;
  std::optional<double> kv_percent;       // used / capacity * 100
  std::optional<double> prefix_hit_rate;  // hits / queries, 0..1
  std::string prefix_hit_source = "none";  // "window", "total" or "none" (as TopQuantiles)
  TopCount engine_errors;
  TopCount preemptions;
};

struct TopQueue {
  std::string model;
  std::string priority;
  double depth = 0;
  double oldest_age_s = 0;
};

struct TopModel {
  std::string model;
  TopCount generation_tokens;  // workers' ringserve_generation_tokens_total
  TopCount prompt_tokens;      // workers' ringserve_prompt_tokens_total
  TopCount jobs_accepted;      // the broker's, every priority
  TopCount jobs_ended;         // the broker's, every final state
  TopQuantiles ttft;           // ringserve_time_to_first_token_seconds
  TopQuantiles itl;            // ringserve_inter_token_latency_seconds
};

struct TopErrors {
  TopCount rejected;                                // ringserve_jobs_rejected_total
  std::map<std::string, TopCount> rejected_by_code;  // by its `code`
  TopCount engine;                                  // ringserve_engine_errors_total
  TopCount malformed_messages;                      // ringserve_malformed_messages_total
  TopCount redis;                                   // ringserve_redis_errors_total
  TopCount slow_subscriber_drops;                   // ringserve_slow_subscriber_drops_total
  TopCount dead_letters;                            // ringserve_dead_letters_total
};

// Pool-wide gauges; empty when no endpoint exports them.
struct TopPool {
  std::optional<double> workers_live;    // broker
  std::optional<double> live_jobs;       // broker
  std::optional<double> redis_up;        // broker
  std::optional<double> broker_up;       // gateway
  std::optional<double> active_streams;  // gateway
};

struct TopSnapshot {
  double seconds = 0;  // between the two rounds
  std::vector<TopEndpoint> endpoints;  // in the order of t1
  TopPool pool;
  std::vector<TopDevice> devices;  // by worker, then device
  std::vector<TopQueue> queues;    // by model, then priority
  std::vector<TopModel> models;    // by name
  TopCount jobs_accepted;          // all models
  TopCount jobs_ended;
  std::map<std::string, TopCount> jobs_ended_by_state;
  TopErrors errors;
};

// The view of the window t0 -> t1 (endpoints matched by name; health from t1).
TopSnapshot compute_top(const ScrapeRound& t0, const ScrapeRound& t1, double seconds);

// A fixed-width table layout (no colours); no line is wider than `width` columns (at least
// 20). Label values are shown with control characters replaced by '?'.
std::string render_text(const TopSnapshot& snapshot, int width);

// The snapshot as one JSON object; field names documented in docs/CLIENT.md (`ringserve top`).
nlohmann::json to_json(const TopSnapshot& snapshot);

}  // namespace rs::cli
