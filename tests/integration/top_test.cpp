// `ringserve top` against a real pool: `ringserve up --workers 1 --devices 1` in a temp dir,
// two jobs, then `ringserve top --once --json --var var`: the three endpoints reachable and
// ready, the worker's device listed, the generation tokens counted, TTFT quantiles for the
// model; the text view; and the errors (no var/metrics: exit 2; an endpoint down: shown,
// not fatal).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "process_harness.h"
#include "redis_server.h"
#include "ringserve_run.h"
#include "test_paths.h"

namespace rs::test::top_it {
namespace {

constexpr int kTopStartMs = 120000;  // generous: builds share the machine
constexpr int kTopRunMs = 60000;

struct TopRunResult {
  int code = -1;
  std::string out;
  std::string err;
};

TopRunResult top_run(const std::string& dir, std::vector<std::string> args, const std::string& tag) {
  RingserveRun run(dir, std::move(args), tag);
  TopRunResult r;
  r.code = run.wait_exit(kTopRunMs);
  r.out = run.out();
  r.err = run.err();
  return r;
}

bool top_all_ready(const nlohmann::json& view) {
  if (!view.contains("endpoints") || view["endpoints"].empty()) return false;
  for (const auto& e : view["endpoints"]) {
    if (e["reachable"] != true || e["ready"] != true) return false;
  }
  return true;
}

const nlohmann::json* top_model(const nlohmann::json& view, const std::string& name) {
  for (const auto& m : view["models"]) {
    if (m["model"] == name) return &m;
  }
  return nullptr;
}

class TopIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::available()) {
      if (in_ci()) FAIL() << "redis-server not installed";
      GTEST_SKIP() << "redis-server not installed";
    }
    ASSERT_FALSE(tmp_.path().empty());
  }
  TempDir tmp_{"rs-top"};
};

TEST_F(TopIntegrationTest, OnceJsonShowsEndpointsDevicesTokensAndLatency) {
  RingserveRun up(tmp_.path(), {"up", "--workers", "1", "--devices", "1"}, "up");
  ASSERT_TRUE(Pool::poll_until(kTopStartMs, [&] {
    return !up.running() || up.out().find("pool ready") != std::string::npos;
  }));
  ASSERT_TRUE(up.running()) << up.logs();

  // --ignore-eos: each job runs to its 8 tokens, whatever the synthetic model samples.
  double completion_tokens = 0;
  for (int i = 0; i < 2; ++i) {
    auto r = top_run(tmp_.path(), {"submit", "--wait", "--json", "--ignore-eos", "--max-tokens", "8", "hello"},
                     "submit" + std::to_string(i));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    auto lines = json_lines(r.out);
    ASSERT_FALSE(lines.empty()) << r.out;
    EXPECT_EQ(lines.back()["state"], "SUCCEEDED") << r.out;
    completion_tokens += lines.back()["usage"]["completion_tokens"].get<double>();
  }
  EXPECT_EQ(completion_tokens, 16);

  // Readiness is re-checked by each process on its own clock: give it a few views.
  nlohmann::json view;
  TopRunResult r;
  const bool ready = Pool::poll_until(30000, [&] {
    r = top_run(tmp_.path(), {"top", "--once", "--json", "--var", "var", "--interval-ms", "500"}, "top");
    auto lines = json_lines(r.out);
    if (r.code != 0 || lines.size() != 1) return true;  // fails below
    view = lines[0];
    return top_all_ready(view);
  });
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_EQ(json_lines(r.out).size(), 1u) << "--once --json prints one object: " << r.out;
  EXPECT_TRUE(ready) << view.dump(2);

  ASSERT_EQ(view["endpoints"].size(), 3u) << view.dump(2);
  std::vector<std::string> names;
  for (const auto& e : view["endpoints"]) names.push_back(e["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"broker", "worker-1", "gateway"}));
  EXPECT_NEAR(view["window_s"].get<double>(), 0.5, 0.45);

  ASSERT_EQ(view["devices"].size(), 1u) << view.dump(2);
  const auto& device = view["devices"][0];
  EXPECT_EQ(device["device"], "0");
  EXPECT_FALSE(device["worker"].get<std::string>().empty());
  EXPECT_GT(device["kv_capacity"].get<double>(), 0);
  EXPECT_EQ(device["running"], 0);

  const nlohmann::json* synth = top_model(view, "synth");
  ASSERT_NE(synth, nullptr) << view.dump(2);
  EXPECT_EQ((*synth)["generation_tokens"]["total"], 16) << synth->dump(2);
  EXPECT_EQ((*synth)["generation_tokens"]["delta"], 0);  // nothing ran between the scrapes
  EXPECT_GT((*synth)["prompt_tokens"]["total"].get<double>(), 0);
  EXPECT_EQ((*synth)["jobs_accepted"]["total"], 2);
  EXPECT_EQ((*synth)["jobs_ended"]["total"], 2);
  ASSERT_TRUE((*synth)["ttft"]["p50"].is_number()) << synth->dump(2);
  EXPECT_GT((*synth)["ttft"]["p50"].get<double>(), 0);
  EXPECT_EQ((*synth)["ttft"]["source"], "total");  // no new observation in the window: said so
  EXPECT_EQ((*synth)["ttft"]["observations"], 2);
  EXPECT_EQ(view["jobs"]["ended_by_state"]["succeeded"]["total"], 2);
  EXPECT_EQ(view["errors"]["engine"]["total"], 0);
  EXPECT_EQ(view["pool"]["workers_live"], 1);
  EXPECT_EQ(view["pool"]["redis_up"], 1);

  // The text view (stdout is a file: no ANSI codes), two refreshes.
  auto text = top_run(tmp_.path(), {"top", "--iterations", "2", "--interval-ms", "200"}, "top-text");
  ASSERT_EQ(text.code, 0) << text.out << text.err;
  EXPECT_EQ(text.out.find('\x1b'), std::string::npos) << text.out;
  size_t views = 0;
  for (size_t at = text.out.find("ringserve top  window"); at != std::string::npos;
       at = text.out.find("ringserve top  window", at + 1)) {
    ++views;
  }
  EXPECT_EQ(views, 2u) << text.out;
  EXPECT_NE(text.out.find("endpoints 3/3 up, 3 ready"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("synth"), std::string::npos) << text.out;

  // A var/metrics entry that no longer answers is shown down; the rest is still read.
  auto mixed = top_run(tmp_.path(),
                       {"top", "--once", "--json", "--interval-ms", "200", "--metrics",
                        "gone=http://127.0.0.1:1", "--metrics",
                        "broker=" + view["endpoints"][0]["url"].get<std::string>()},
                       "top-mixed");
  ASSERT_EQ(mixed.code, 0) << mixed.out << mixed.err;
  auto mixed_lines = json_lines(mixed.out);
  ASSERT_EQ(mixed_lines.size(), 1u) << mixed.out;
  EXPECT_EQ(mixed_lines[0]["endpoints"][0]["reachable"], false);
  EXPECT_FALSE(mixed_lines[0]["endpoints"][0]["error"].get<std::string>().empty());
  EXPECT_EQ(mixed_lines[0]["endpoints"][1]["reachable"], true);

  ASSERT_EQ(::kill(up.pid(), SIGINT), 0);
  EXPECT_EQ(up.wait_exit(60000), 0) << up.logs();
}

TEST(TopCliTest, NoMetricsFileIsAClearErrorWithExitCode2) {
  TempDir dir("rs-top-none");
  ASSERT_FALSE(dir.path().empty());
  auto r = top_run(dir.path(), {"top", "--once"}, "top");
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("no var/metrics: is `ringserve up` running here? or pass --metrics NAME=URL"),
            std::string::npos)
      << r.err;
  auto j = top_run(dir.path(), {"top", "--once", "--json", "--var", "elsewhere"}, "top-json");
  EXPECT_EQ(j.code, 2);
  auto lines = json_lines(j.out);
  ASSERT_EQ(lines.size(), 1u) << j.out;
  EXPECT_EQ(lines[0]["error"], "not_found");
  EXPECT_NE(lines[0]["message"].get<std::string>().find("no elsewhere/metrics"), std::string::npos);
  auto bad = top_run(dir.path(), {"top", "--once", "--metrics", "nameless"}, "top-bad");
  EXPECT_EQ(bad.code, 2) << bad.err;
}

}  // namespace
}  // namespace rs::test::top_it
