// Acceptance (issue 16): metrics, health and readiness with real processes.
// - A real `prometheus` with the shipped deploy/prometheus files scrapes a `ringserve up`
//   pool through the targets file `up` writes; after jobs ran, its HTTP API says: every
//   target up, the TTFT histogram's count equals the finished jobs, the generation tokens
//   equal the tokens streamed, the queue depth is back to 0. promtool passes the shipped
//   config and rules and every endpoint's /metrics.
// - A worker whose engine thread is held (the test-only --stall-while-file) answers /readyz
//   503 engine_stalled, and 200 again once released.
// - A broker whose Redis stops answers /readyz 503 redis_down, and 200 once Redis is back;
//   a gateway whose broker is gone 503 broker_unreachable, and 200 once it is back.
// Polled, never slept on.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "gateway_process.h"
#include "http_client.h"
#include "process_harness.h"
#include "redis_server.h"
#include "ringserve_run.h"
#include "test_paths.h"

namespace rs::test::metrics_it {
namespace {

namespace fs = std::filesystem;

// "http://127.0.0.1:PORT" -> PORT (0 if malformed).
int port_of(const std::string& url) {
  const size_t colon = url.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(url.c_str() + colon + 1);
}

std::optional<HttpResponse> get(int port, const std::string& target) {
  HttpConnection c;
  if (!c.connect(port)) return std::nullopt;
  return c.request("GET", target, "", {}, 10000);
}

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// Runs a shell command; its exit code and output.
int run_shell(const std::string& command, std::string* out) {
  std::string text;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
  const int status = ::pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The value of an instant query's single result ("" if none or not exactly one).
std::string query_value(int port, const std::string& promql) {
  std::string encoded;
  for (unsigned char c : promql) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-') {
      encoded += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      encoded += hex;
    }
  }
  auto r = get(port, "/api/v1/query?query=" + encoded);
  if (!r || r->status != 200) return "";
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") return "";
  const auto& result = j["data"]["result"];
  if (!result.is_array() || result.size() != 1) return "";
  return result[0]["value"][1].get<std::string>();
}

// NAME URL lines of var/metrics.
std::vector<std::pair<std::string, std::string>> metrics_endpoints(const fs::path& file) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(file);
  std::string name, url;
  while (in >> name >> url) out.emplace_back(name, url);
  return out;
}

bool tools_present(std::string* why) {
  for (const char* tool : {"prometheus", "promtool"}) {
    if (find_program(tool).empty()) {
      *why = std::string(tool) + " not installed (scripts/setup.sh installs Debian's prometheus)";
      return false;
    }
  }
  return true;
}

class PrometheusPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!RedisServer::available()) why = "redis-server not installed";
    if (why.empty()) tools_present(&why);
    if (!why.empty()) {
      if (in_ci()) FAIL() << why;
      GTEST_SKIP() << why;
    }
    dir_ = tmp_.path();
  }
  TempDir tmp_{"rs-metrics"};
  fs::path dir_;
};

TEST_F(PrometheusPoolTest, PrometheusScrapesAnUpPoolAndItsFiguresAgreeWithTheJobs) {
  // Two slots (1 worker x 2 devices x 1 sequence) and slow steps: jobs queue for a while.
  RingserveRun up(dir_, {"up", "--workers", "1", "--devices", "2", "--max-batch-size", "1",
                         "--step-delay-ms", "10"});
  ASSERT_TRUE(Pool::poll_until(120000, [&] {
    return !up.running() || up.out().find("pool ready") != std::string::npos;
  })) << up.logs();
  ASSERT_TRUE(up.running()) << up.logs();
  const auto endpoints = metrics_endpoints(dir_ / "var" / "metrics");
  ASSERT_EQ(endpoints.size(), 3u) << read_file(dir_ / "var" / "metrics");
  EXPECT_EQ(endpoints[0].first, "broker");
  EXPECT_EQ(endpoints[1].first, "worker-1");
  EXPECT_EQ(endpoints[2].first, "gateway");
  ASSERT_TRUE(fs::exists(dir_ / "var" / "prometheus" / "targets.json"));

  // The shipped files, as shipped, beside the pool's var/ (their ../../var path).
  const fs::path deploy = dir_ / "deploy" / "prometheus";
  fs::create_directories(deploy);
  for (const char* f : {"prometheus.yml", "alerts.yml", "alerts_test.yml"}) {
    fs::copy_file(source_path(std::string("deploy/prometheus/") + f), deploy / f);
  }
  std::string out;
  EXPECT_EQ(run_shell("promtool check config " + (deploy / "prometheus.yml").string(), &out), 0) << out;
  EXPECT_EQ(run_shell("promtool check rules " + (deploy / "alerts.yml").string(), &out), 0) << out;
  EXPECT_EQ(run_shell("cd " + deploy.string() + " && promtool test rules alerts_test.yml", &out), 0)
      << out;

  // Jobs: 8 at once, 24 tokens each, through rs_client; the tokens each one streamed.
  client::ClientOptions co;
  co.endpoint = read_file(dir_ / "var" / "endpoint");
  while (!co.endpoint.empty() && std::isspace(static_cast<unsigned char>(co.endpoint.back()))) {
    co.endpoint.pop_back();
  }
  auto curve = client::resolve_curve((dir_ / "var/keys/cli.key").string(),
                                     (dir_ / "var/keys/broker.pub").string());
  ASSERT_TRUE(curve.ok()) << curve.status().to_string();
  co.curve = *curve;
  auto client = client::Client::connect(co);
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  std::vector<std::string> jobs;
  for (int i = 0; i < 8; ++i) {
    schemas::SubmitRequest r = make_request("synth", "metrics job " + std::to_string(i), 24);
    r.ignore_eos = true;
    auto accepted = (*client)->submit(r);
    ASSERT_TRUE(accepted.ok()) << accepted.status().to_string();
    jobs.push_back(accepted->job_id);
  }
  size_t streamed = 0;
  for (const std::string& job : jobs) {
    FinishedJob f = wait_job(**client, job, 120000);
    ASSERT_TRUE(f.status.ok()) << f.status.to_string();
    EXPECT_EQ(f.record.state, schemas::JobState::kSucceeded);
    streamed += f.tokens.size();
  }
  EXPECT_EQ(streamed, 8u * 24u);

  // The gateway: an authenticated request and a refused one.
  const int http_port = port_of(read_file(dir_ / "var" / "http"));
  std::string key = read_file(dir_ / "var" / "api-key");
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  {
    HttpConnection c;
    ASSERT_TRUE(c.connect(http_port));
    auto models = c.request("GET", "/v1/models", "", {"Authorization: Bearer " + key});
    ASSERT_TRUE(models.has_value());
    EXPECT_EQ(models->status, 200);
    HttpConnection d;
    ASSERT_TRUE(d.connect(http_port));
    auto refused = d.request("GET", "/v1/models", "", {"Authorization: Bearer wrong"});
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status, 401);
  }

  // Every endpoint: promtool's lint of its exposition, and ready.
  for (const auto& [name, url] : endpoints) {
    auto m = get(port_of(url), "/metrics");
    ASSERT_TRUE(m.has_value()) << name;
    EXPECT_EQ(m->status, 200) << name;
    const fs::path file = dir_ / (name + ".metrics");
    std::ofstream(file) << m->body;
    EXPECT_EQ(run_shell("promtool check metrics < " + file.string(), &out), 0) << name << ": " << out;
    auto ready = get(port_of(url), "/readyz");
    ASSERT_TRUE(ready.has_value()) << name;
    EXPECT_EQ(ready->status, 200) << name << ": " << ready->body;
  }

  // Prometheus with the shipped config; its API agrees with what the jobs did.
  const int prom_port = RedisServer::free_port();
  ChildProcess prometheus;
  ASSERT_TRUE(prometheus.start({find_program("prometheus"),
                                "--config.file=" + (deploy / "prometheus.yml").string(),
                                "--storage.tsdb.path=" + (dir_ / "prom-data").string(),
                                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
                               (dir_ / "prometheus.log").string()));
  const std::string want_tokens = std::to_string(streamed);
  struct Check {
    std::string promql, want;
  };
  const std::vector<Check> checks = {
      {"count(up{job=\"ringserve\"} == 1)", "3"},
      {"sum(ringserve_time_to_first_token_seconds_count)", "8"},
      {"sum(ringserve_e2e_request_latency_seconds_count)", "8"},
      {"sum(ringserve_generation_tokens_total)", want_tokens},
      {"sum(ringserve_jobs_ended_total{state=\"succeeded\"})", "8"},
      {"sum(ringserve_jobs_accepted_total)", "8"},
      {"sum(ringserve_queue_depth)", "0"},
      {"sum(ringserve_dispatch_latency_seconds_count)", "8"},
      // 8 jobs on 2 slots: 6 of them waited in the queue.
      {"sum(ringserve_dispatch_latency_seconds_bucket{le=\"0.001\"}) < bool 8", "1"},
      {"sum(ringserve_devices_live)", "2"},
      {"ringserve_redis_up", "1"},
      {"sum(ringserve_http_requests_total{route=\"/v1/models\",status=\"200\"})", "1"},
      {"ringserve_http_auth_failures_total", "1"},
      {"count(ringserve_build_info)", "3"},
      {"count(ringserve_ready == 1)", "3"},
      {"ringserve_http_active_streams", "0"},
  };
  std::string last;
  const bool agreed = Pool::poll_until(90000, [&] {
    for (const Check& c : checks) {
      const std::string got = query_value(prom_port, c.promql);
      if (got != c.want) {
        last = c.promql + " = '" + got + "', want " + c.want;
        return false;
      }
    }
    return true;
  });
  EXPECT_TRUE(agreed) << last << "\n" << read_file(dir_ / "prometheus.log").substr(0, 4000);
  prometheus.terminate(5000);
}

// Pools of the test harness (real redis-server, broker and workers), metrics on port 0.
std::string metrics_url_of(ChildProcess& p) {
  for (const std::string& line : p.lines()) {
    if (line.rfind("metrics_url ", 0) == 0) return line.substr(12);
  }
  auto line = p.wait_for_line("metrics_url ", 10000);
  return line ? line->substr(12) : "";
}

int readyz(int port, std::string* body) {
  auto r = get(port, "/readyz");
  if (!r) return -1;
  if (body != nullptr) *body = r->body;
  return r->status;
}

TEST(ReadinessTest, AStalledEngineMakesTheWorkerNotReadyUntilReleased) {
  TempDir tmp("rs-stall");
  const std::string stall = tmp.file("stall");
  PoolOptions o;
  o.workers = 1;
  o.devices = 1;
  o.heartbeat_ms = 200;
  o.worker_args = {"--metrics-port", "0", "--stall-while-file", stall};
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  const int port = port_of(metrics_url_of(pool.worker_process(0)));
  ASSERT_GT(port, 0);
  std::string body;
  ASSERT_TRUE(Pool::poll_until(30000, [&] { return readyz(port, &body) == 200; })) << body;
  EXPECT_EQ(get(port, "/healthz")->status, 200);

  std::ofstream(stall) << "hold";
  auto client = pool.connect();
  ASSERT_TRUE(client.ok());
  schemas::SubmitRequest r = make_request(pool.model_name(), "held", 8);
  auto accepted = (*client)->submit(r);
  ASSERT_TRUE(accepted.ok()) << accepted.status().to_string();
  ASSERT_TRUE(Pool::poll_until(30000, [&] { return readyz(port, &body) == 503; })) << body;
  EXPECT_NE(body.find("\"reason\":\"engine_stalled\""), std::string::npos) << body;
  EXPECT_EQ(get(port, "/healthz")->status, 200) << "the process is up while its engine stalls";

  fs::remove(stall);
  ASSERT_TRUE(Pool::poll_until(30000, [&] { return readyz(port, &body) == 200; })) << body;
  FinishedJob f = wait_job(**client, accepted->job_id, 60000);
  ASSERT_TRUE(f.status.ok()) << f.status.to_string();
  EXPECT_EQ(f.record.state, schemas::JobState::kSucceeded);
}

TEST(ReadinessTest, AStoppedRedisMakesTheBrokerNotReadyUntilItIsBack) {
  PoolOptions o;
  o.workers = 1;
  o.devices = 1;
  o.broker_args = {"--metrics-port", "0"};
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  const int port = port_of(metrics_url_of(pool.broker_process()));
  ASSERT_GT(port, 0);
  std::string body;
  ASSERT_TRUE(Pool::poll_until(30000, [&] { return readyz(port, &body) == 200; })) << body;

  pool.redis_server().stop();
  ASSERT_TRUE(Pool::poll_until(30000, [&] { return readyz(port, &body) == 503; })) << body;
  EXPECT_NE(body.find("\"reason\":\"redis_down\""), std::string::npos) << body;
  EXPECT_NE(get(port, "/metrics")->body.find("\nringserve_redis_up 0\n"), std::string::npos);

  ASSERT_TRUE(pool.redis_server().start());
  ASSERT_TRUE(Pool::poll_until(30000, [&] { return readyz(port, &body) == 200; })) << body;
  EXPECT_NE(get(port, "/metrics")->body.find("\nringserve_redis_up 1\n"), std::string::npos);
  // And it serves again.
  auto client = pool.connect();
  ASSERT_TRUE(client.ok());
  auto accepted = (*client)->submit(make_request(pool.model_name(), "after redis", 4));
  ASSERT_TRUE(accepted.ok()) << accepted.status().to_string();
  EXPECT_TRUE(wait_job(**client, accepted->job_id).status.ok());
}

TEST(ReadinessTest, AGatewayWhoseBrokerIsGoneIsNotReadyUntilItIsBack) {
  PoolOptions o;
  o.workers = 1;
  o.devices = 1;
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  GatewayProcess gateway(pool);
  ASSERT_TRUE(gateway.start({"--metrics-port", "0"}));
  const int port = port_of(metrics_url_of(gateway.process()));
  ASSERT_GT(port, 0);
  std::string body;
  ASSERT_TRUE(Pool::poll_until(30000, [&] { return readyz(port, &body) == 200; })) << body;

  pool.kill_broker();
  ASSERT_TRUE(Pool::poll_until(60000, [&] { return readyz(port, &body) == 503; })) << body;
  EXPECT_NE(body.find("\"reason\":\"broker_unreachable\""), std::string::npos) << body;
  EXPECT_NE(get(port, "/metrics")->body.find("\nringserve_broker_up 0\n"), std::string::npos);

  ASSERT_TRUE(pool.restart_broker());
  ASSERT_TRUE(Pool::poll_until(60000, [&] { return readyz(port, &body) == 200; })) << body;
}

}  // namespace
}  // namespace rs::test::metrics_it
