// `ringserve top`: a live view of a pool from its metrics endpoints (var/metrics or
// --metrics NAME=URL). The shell: options, scraping (top_http.h), the refresh loop and the
// terminal; the figures and their layout are top_view.h's.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "commands.h"
#include "json_format.h"
#include "options.h"
#include "top_http.h"
#include "top_view.h"

namespace rs::cli {
namespace {

using TopClock = std::chrono::steady_clock;

struct TopOptions {
  std::string var_dir = "var";
  std::vector<std::string> metrics;  // NAME=URL
  int interval_ms = 1000;
  int timeout_ms = 2000;
  int iterations = 0;  // 0: until Ctrl-C
  bool once = false;
  bool json = false;
};

// Set by SIGINT / SIGTERM: the loop ends after the frame in progress.
std::atomic<bool> g_top_stop{false};

void top_on_signal(int) { g_top_stop.store(true); }

void top_install_signals() {
  struct sigaction sa{};
  sa.sa_handler = top_on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a sleep or poll wakes up
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// `error: MESSAGE` on stderr (and {"error","message"} on stdout with --json); returns `code`.
int top_fail(const TopOptions& o, const std::string& error, const std::string& message, int code) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  if (o.json) {
    std::printf("%s\n", json_line(nlohmann::json{{"error", error}, {"message", message}}).c_str());
    std::fflush(stdout);
  }
  return code;
}

// The endpoints to scrape, or the exit code of the error already reported.
std::variant<std::vector<MetricsEndpoint>, int> top_endpoints(const TopOptions& o) {
  std::vector<MetricsEndpoint> out;
  if (!o.metrics.empty()) {
    for (const std::string& arg : o.metrics) {
      auto e = parse_metrics_arg(arg);
      if (!e.ok()) return top_fail(o, "invalid_argument", e.status().message(), kExitUsage);
      out.push_back(*e);
    }
    return out;
  }
  const std::string path = o.var_dir + "/metrics";
  std::ifstream in(path);
  if (!in) {
    return top_fail(o, "not_found",
                    "no " + path + ": is `ringserve up` running here? or pass --metrics NAME=URL", kExitUsage);
  }
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_metrics_file(text.str());
  if (!parsed.ok()) return top_fail(o, "invalid_argument", path + ": " + parsed.status().message(), kExitError);
  if (parsed->empty()) return top_fail(o, "not_found", path + " lists no endpoint", kExitError);
  return std::move(parsed).value();
}

EndpointScrape top_scrape_one(const MetricsEndpoint& e, int timeout_ms) {
  EndpointScrape s{.name = e.name, .url = e.url};
  auto url = parse_http_url(e.url);
  if (!url.ok()) {
    s.error = url.status().message();
    return s;
  }
  const HttpGetOptions options{.timeout_ms = timeout_ms, .stop = &g_top_stop};
  auto metrics_reply = http_get(*url, "/metrics", options);
  if (!metrics_reply.ok()) {
    s.error = metrics_reply.status().message();
    return s;  // down: /readyz would fail the same way
  }
  if (metrics_reply->status != 200) {
    s.error = "/metrics: HTTP " + std::to_string(metrics_reply->status);
  } else if (auto samples = metrics::parse_text(metrics_reply->body); !samples.ok()) {
    s.error = "/metrics: " + samples.status().message();
  } else {
    s.reachable = true;
    s.samples = std::move(samples).value();
  }
  if (auto ready = http_get(*url, "/readyz", options); ready.ok()) {
    apply_readyz(s, ready->status, ready->body);
  }
  return s;
}

// Every endpoint at once (one thread each: a slow one costs its timeout, not the sum).
ScrapeRound top_scrape(const std::vector<MetricsEndpoint>& endpoints, int timeout_ms) {
  std::vector<std::future<EndpointScrape>> pending;
  for (const MetricsEndpoint& e : endpoints) {
    pending.push_back(std::async(std::launch::async, top_scrape_one, e, timeout_ms));
  }
  ScrapeRound round;
  for (auto& f : pending) round.push_back(f.get());
  return round;
}

// Sleeps until `when`; false when interrupted (Ctrl-C).
bool top_sleep_until(TopClock::time_point when) {
  while (!g_top_stop.load()) {
    const auto now = TopClock::now();
    if (now >= when) return true;
    std::this_thread::sleep_for(std::min<TopClock::duration>(when - now, std::chrono::milliseconds(50)));
  }
  return false;
}

// The terminal's size (columns, rows); else $COLUMNS (or 120) and no row limit.
std::pair<int, int> top_screen_size(bool tty) {
  winsize ws{};
  if (tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return {ws.ws_col, ws.ws_row};
  const char* columns = std::getenv("COLUMNS");
  const int c = columns != nullptr ? std::atoi(columns) : 0;
  return {c > 0 ? c : 120, 0};
}

void top_print(const TopSnapshot& snapshot, const TopOptions& o, bool tty, bool first) {
  if (o.json) {
    nlohmann::json j = to_json(snapshot);
    j["time_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    std::printf("%s\n", json_line(j).c_str());
  } else if (!tty) {
    std::printf("%s%s", first ? "" : "\n", render_text(snapshot, top_screen_size(false).first).c_str());
  } else {
    // Home, each line cleared to its end, the rest of the screen cleared: no flicker. One
    // column spare: a line filling the last one would leave the cursor waiting to wrap.
    const auto [cols, rows] = top_screen_size(true);
    std::string out = first ? "\x1b[H\x1b[2J" : "\x1b[H";
    std::istringstream text(render_text(snapshot, cols - 1));
    int n = 0;
    for (std::string line; std::getline(text, line) && (rows <= 1 || n < rows - 1); ++n) out += line + "\x1b[K\n";
    out += "\x1b[J";
    std::fputs(out.c_str(), stdout);
  }
  std::fflush(stdout);
}

int run_top(TopOptions o) {
  auto endpoints = top_endpoints(o);
  if (const int* code = std::get_if<int>(&endpoints)) return *code;
  const auto& list = std::get<std::vector<MetricsEndpoint>>(endpoints);
  if (o.once) o.iterations = 1;
  const bool tty = !o.json && ::isatty(STDOUT_FILENO) == 1;
  g_top_stop.store(false);
  top_install_signals();
  if (tty) {
    std::printf("\x1b[H\x1b[2Jringserve top: reading %zu endpoint(s), first view in %.1f s...\n", list.size(),
                o.interval_ms / 1000.0);
    std::fflush(stdout);
  }
  auto t0 = TopClock::now();
  ScrapeRound r0 = top_scrape(list, o.timeout_ms);
  for (int i = 0; o.iterations == 0 || i < o.iterations; ++i) {
    if (!top_sleep_until(t0 + std::chrono::milliseconds(o.interval_ms))) break;
    const auto t1 = TopClock::now();
    ScrapeRound r1 = top_scrape(list, o.timeout_ms);
    if (g_top_stop.load()) break;
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    top_print(compute_top(r0, r1, seconds), o, tty, i == 0);
    r0 = std::move(r1);
    t0 = t1;
  }
  return kExitOk;
}

}  // namespace

void add_top_command(CLI::App& app) {
  auto o = std::make_shared<TopOptions>();
  CLI::App* sub = app.add_subcommand("top", "live view of a pool from its metrics endpoints");
  sub->add_option("--var", o->var_dir, "directory of `ringserve up` (reads DIR/metrics)")->capture_default_str();
  sub->add_option("--metrics", o->metrics, "an endpoint NAME=URL instead of DIR/metrics (repeatable)");
  sub->add_option("--interval-ms", o->interval_ms, "time between two scrapes")
      ->capture_default_str()
      ->check(CLI::Range(50, 3600000));
  sub->add_option("--timeout-ms", o->timeout_ms, "time one endpoint has to answer a request")
      ->capture_default_str()
      ->check(CLI::Range(10, 600000));
  sub->add_flag("--once", o->once, "take two scrapes one interval apart, print once and exit");
  sub->add_flag("--json", o->json, "print one JSON object per refresh (one line each)");
  sub->add_option("--iterations", o->iterations, "stop after N refreshes (0: until Ctrl-C)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->callback([o] { exit_code() = run_top(*o); });
}

}  // namespace rs::cli
