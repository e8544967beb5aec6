// Registry, families and the text exposition format (pure; no sockets).
#include <gtest/gtest.h>

#include <thread>

#include "rs/metrics/metrics.h"

namespace rs::metrics {
namespace {

TEST(Metrics, RendersCountersAndGaugesWithLabels) {
  Registry r;
  auto& jobs = r.counter("ringserve_jobs_ended_total", "Jobs that ended", {"model", "state"});
  jobs.with({"tiny", "succeeded"}).inc();
  jobs.with({"tiny", "succeeded"}).inc(2);
  jobs.with({"tiny", "failed"}).inc();
  r.gauge("ringserve_workers_live", "Workers registered").with().set(3);
  const std::string text = r.render();
  EXPECT_NE(text.find("# HELP ringserve_jobs_ended_total Jobs that ended\n"
                      "# TYPE ringserve_jobs_ended_total counter\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ringserve_jobs_ended_total{model=\"tiny\",state=\"succeeded\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ringserve_jobs_ended_total{model=\"tiny\",state=\"failed\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE ringserve_workers_live gauge\nringserve_workers_live 3\n"),
            std::string::npos)
      << text;
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.histogram("ringserve_x_seconds", "X", {0.1, 1.0}, {"model"}).with({"m"});
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.5);
  h.observe(7);
  const std::string text = r.render();
  EXPECT_NE(text.find("ringserve_x_seconds_bucket{model=\"m\",le=\"0.1\"} 2\n"
                      "ringserve_x_seconds_bucket{model=\"m\",le=\"1\"} 3\n"
                      "ringserve_x_seconds_bucket{model=\"m\",le=\"+Inf\"} 4\n"
                      "ringserve_x_seconds_sum{model=\"m\"} 7.65\n"
                      "ringserve_x_seconds_count{model=\"m\"} 4\n"),
            std::string::npos)
      << text;
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_help("line\\one\ntwo \"q\""), "line\\\\one\\ntwo \"q\"");
  Registry r;
  r.counter("c_total", "h", {"l"}).with({"x\"y"}).inc();
  EXPECT_NE(r.render().find("c_total{l=\"x\\\"y\"} 1\n"), std::string::npos);
}

TEST(Metrics, FormatsSpecialValues) {
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(0.25), "0.25");
}

TEST(Metrics, MissingLabelValuesAreEmptyAndAFamilyWithoutSeriesHasItsHeadOnly) {
  Registry r;
  r.counter("a_total", "A", {"x", "y"}).with({"1"}).inc();
  r.gauge("b", "B", {"x"});
  const std::string text = r.render();
  EXPECT_NE(text.find("a_total{x=\"1\",y=\"\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE b gauge\n"), std::string::npos);
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  auto& c = r.counter("n_total", "N").with();
  auto& h = r.histogram("h_seconds", "H", fast_buckets()).with();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.001);
      }
    });
  }
  std::string last;
  for (int i = 0; i < 20; ++i) last = r.render();  // renders while they count
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000);
  EXPECT_EQ(h.snapshot().count, 40000u);
}

TEST(Metrics, ProcessMetricsAreRead) {
  Registry r;
  add_process_metrics(r, "test");
  const std::string text = r.render();
  EXPECT_NE(text.find("ringserve_build_info{program=\"test\",version=\""), std::string::npos);
  EXPECT_NE(text.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_EQ(text.find("process_resident_memory_bytes 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("process_open_fds "), std::string::npos);
  EXPECT_NE(text.find("process_start_time_seconds "), std::string::npos);
}

}  // namespace
}  // namespace rs::metrics
