// The Prometheus text-format parser and histogram_quantile (pure; no sockets).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>

#include "rs/metrics/metrics.h"
#include "rs/metrics/text_parser.h"

namespace rs::metrics {
namespace {

// The one sample of a one-line text (a failed parse fails the test).
Sample parse_one_sample(const std::string& line) {
  auto r = parse_text(line);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok() || r->size() != 1) {
    ADD_FAILURE() << "want one sample from: " << line;
    return {};
  }
  return (*r)[0];
}

// The message of a parse that must fail with `code`.
std::string parse_error_of(const std::string& text, StatusCode code = StatusCode::kInvalidArgument) {
  auto r = parse_text(text);
  EXPECT_FALSE(r.ok()) << "parsed: " << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  return r.status().message();
}

TEST(TextParser, ReadsSamplesWithHelpTypeCommentsAndBlankLines) {
  const std::string text =
      "# HELP ringserve_jobs_ended_total Jobs that ended \\n (escaped)\n"
      "# TYPE ringserve_jobs_ended_total counter\n"
      "# a free comment\n"
      "\n"
      "ringserve_jobs_ended_total{model=\"tiny\",state=\"succeeded\"} 3\n"
      "  ringserve_workers_live 2\r\n"
      "up{} 1 1712345678000\n"
      "x{a=\"1\",} -2.5e-3\n";
  auto r = parse_text(text);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 4u);
  const Sample& s = (*r)[0];
  EXPECT_EQ(s.name, "ringserve_jobs_ended_total");
  ASSERT_EQ(s.labels.size(), 2u);
  EXPECT_EQ(s.labels[0], (std::pair<std::string, std::string>{"model", "tiny"}));
  EXPECT_EQ(s.labels[1], (std::pair<std::string, std::string>{"state", "succeeded"}));
  EXPECT_EQ(s.value, 3);
  EXPECT_FALSE(s.timestamp_ms.has_value());
  EXPECT_EQ((*r)[1].name, "ringserve_workers_live");
  EXPECT_EQ((*r)[1].value, 2);
  EXPECT_TRUE((*r)[2].labels.empty());
  ASSERT_TRUE((*r)[2].timestamp_ms.has_value());
  EXPECT_EQ(*(*r)[2].timestamp_ms, 1712345678000);
  EXPECT_DOUBLE_EQ((*r)[3].value, -2.5e-3);
  EXPECT_EQ(label_value((*r)[3], "a"), std::optional<std::string_view>("1"));
  EXPECT_FALSE(label_value((*r)[3], "b").has_value());
}

TEST(TextParser, UnescapesLabelValues) {
  const Sample s = parse_one_sample("m{a=\"x\\\\y\",b=\"say \\\"hi\\\"\",c=\"one\\ntwo\",d=\"\"} 1");
  ASSERT_EQ(s.labels.size(), 4u);
  EXPECT_EQ(s.labels[0].second, "x\\y");
  EXPECT_EQ(s.labels[1].second, "say \"hi\"");
  EXPECT_EQ(s.labels[2].second, "one\ntwo");
  EXPECT_EQ(s.labels[3].second, "");
  // Braces, commas and '=' inside a quoted value are text.
  const Sample t = parse_one_sample("m{route=\"/v1/jobs/{id}\",q=\"a,b=c\"} 7");
  EXPECT_EQ(t.labels[0].second, "/v1/jobs/{id}");
  EXPECT_EQ(t.labels[1].second, "a,b=c");
}

TEST(TextParser, ReadsSpecialValues) {
  EXPECT_TRUE(std::isinf(parse_one_sample("m +Inf").value));
  EXPECT_GT(parse_one_sample("m +Inf").value, 0);
  EXPECT_LT(parse_one_sample("m -Inf").value, 0);
  EXPECT_TRUE(std::isinf(parse_one_sample("m -Inf").value));
  EXPECT_TRUE(std::isnan(parse_one_sample("m NaN").value));
  EXPECT_TRUE(std::isinf(parse_one_sample("m Inf").value));
  EXPECT_EQ(parse_one_sample("m{le=\"+Inf\"} 4").labels[0].second, "+Inf");
  EXPECT_EQ(parse_sample_value("+12"), 12.0);
  EXPECT_EQ(parse_sample_value(".5"), 0.5);
  EXPECT_FALSE(parse_sample_value("0x10").has_value());
  EXPECT_FALSE(parse_sample_value("one").has_value());
  EXPECT_FALSE(parse_sample_value("").has_value());
  EXPECT_FALSE(parse_sample_value("+-1").has_value());
}

TEST(TextParser, AMalformedLineIsAnErrorNamingItsLine) {
  EXPECT_EQ(parse_error_of("a 1\nb 2\n3bad 1\n").rfind("line 3: ", 0), 0u);
  EXPECT_NE(parse_error_of("m{a=\"x} 1").find("line 1: unterminated value of label 'a'"),
            std::string::npos);
  EXPECT_NE(parse_error_of("ok 1\nm{a=\"\\t\"} 1").find("line 2: unknown escape \\t"),
            std::string::npos);
  EXPECT_NE(parse_error_of("m{a=\"1\",a=\"2\"} 1").find("duplicate label 'a'"), std::string::npos);
  EXPECT_NE(parse_error_of("m{a=1} 1").find("expected '\"'"), std::string::npos);
  EXPECT_NE(parse_error_of("m{a\"1\"} 1").find("expected '='"), std::string::npos);
  EXPECT_NE(parse_error_of("m{a=\"1\" b=\"2\"} 1").find("expected ',' or '}'"), std::string::npos);
  EXPECT_NE(parse_error_of("m{1a=\"1\"} 1").find("expected a label name"), std::string::npos);
  EXPECT_NE(parse_error_of("m").find("no value"), std::string::npos);
  EXPECT_NE(parse_error_of("m{}").find("no value"), std::string::npos);
  EXPECT_NE(parse_error_of("m abc").find("bad value 'abc'"), std::string::npos);
  EXPECT_NE(parse_error_of("m 1 12.5").find("bad timestamp"), std::string::npos);
  EXPECT_NE(parse_error_of("m 1 12 extra").find("after the timestamp"), std::string::npos);
  EXPECT_NE(parse_error_of("m-x 1").find("unexpected character"), std::string::npos);
  EXPECT_NE(parse_error_of("# TYPE m countr\n").find("line 1: # TYPE m: unknown type 'countr'"),
            std::string::npos);
  EXPECT_NE(parse_error_of("# HELP\n").find("# HELP without a valid metric name"), std::string::npos);
  EXPECT_NE(parse_error_of("a 1\n\n# TYPE 9x gauge\n").find("line 3:"), std::string::npos);
}

TEST(TextParser, RefusesOversizedInput) {
  std::string long_line = "m{a=\"" + std::string(kMaxTextLineBytes, 'x') + "\"} 1\n";
  EXPECT_NE(parse_error_of("ok 1\n" + long_line, StatusCode::kResourceExhausted).find("line 2:"),
            std::string::npos);
  std::string huge;
  const std::string row = "ringserve_some_metric_name{label=\"value\"} 12345\n";
  while (huge.size() <= kMaxTextBytes) huge += row;
  parse_error_of(huge, StatusCode::kResourceExhausted);
  // Just under the line bound is fine.
  auto r = parse_text("m{a=\"" + std::string(kMaxTextLineBytes - 16, 'x') + "\"} 1\n");
  EXPECT_TRUE(r.ok()) << r.status().to_string();
}

TEST(TextParser, RoundTripsARenderedRegistry) {
  Registry r;
  r.counter("ringserve_jobs_ended_total", "Jobs\nthat \\ ended", {"model", "state"})
      .with({"ti\"ny\\x\ny", "succeeded"})
      .inc(3);
  r.gauge("ringserve_workers_live", "Workers").with().set(-0.25);
  r.gauge("ringserve_odd", "Special", {"k"}).with({"inf"}).set(std::numeric_limits<double>::infinity());
  auto& h = r.histogram("ringserve_x_seconds", "X", {0.1, 1.0}, {"model"}).with({"m"});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(7);
  auto parsed = parse_text(r.render());
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  std::map<std::string, double> by_key;
  for (const Sample& s : *parsed) {
    std::string key = s.name;
    for (const auto& [n, v] : s.labels) key += "|" + n + "=" + v;
    by_key[key] = s.value;
  }
  EXPECT_EQ(by_key.at("ringserve_jobs_ended_total|model=ti\"ny\\x\ny|state=succeeded"), 3);
  EXPECT_EQ(by_key.at("ringserve_workers_live"), -0.25);
  EXPECT_TRUE(std::isinf(by_key.at("ringserve_odd|k=inf")));
  EXPECT_EQ(by_key.at("ringserve_x_seconds_bucket|model=m|le=0.1"), 1);
  EXPECT_EQ(by_key.at("ringserve_x_seconds_bucket|model=m|le=1"), 2);
  EXPECT_EQ(by_key.at("ringserve_x_seconds_bucket|model=m|le=+Inf"), 3);
  EXPECT_DOUBLE_EQ(by_key.at("ringserve_x_seconds_sum|model=m"), 7.55);
  EXPECT_EQ(by_key.at("ringserve_x_seconds_count|model=m"), 3);
  EXPECT_EQ(by_key.size(), 8u);
}

TEST(TextParser, RoundTripsTheProcessMetrics) {
  Registry r;
  add_process_metrics(r, "test");
  auto parsed = parse_text(r.render());
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  bool build_info = false;
  for (const Sample& s : *parsed) {
    if (s.name == "ringserve_build_info") build_info = label_value(s, "program") == "test";
  }
  EXPECT_TRUE(build_info);
}

TEST(HistogramQuantile, InterpolatesInsideTheBucketAsPrometheusDoes) {
  const double inf = std::numeric_limits<double>::infinity();
  // 10 observations <= 0.1, 10 more <= 0.2, none above.
  std::vector<BucketCount> b{{0.1, 10}, {0.2, 20}, {inf, 20}};
  EXPECT_DOUBLE_EQ(histogram_quantile(0.5, b), 0.1);
  EXPECT_DOUBLE_EQ(histogram_quantile(0.25, b), 0.05);   // from 0 inside the first bucket
  EXPECT_DOUBLE_EQ(histogram_quantile(0.75, b), 0.15);
  EXPECT_DOUBLE_EQ(histogram_quantile(1.0, b), 0.2);
  // Order does not matter; equal bounds add up.
  std::vector<BucketCount> shuffled{{inf, 10}, {0.2, 10}, {0.1, 5}, {0.1, 5}, {0.2, 10}, {inf, 10}};
  EXPECT_DOUBLE_EQ(histogram_quantile(0.75, shuffled), 0.15);
}

TEST(HistogramQuantile, InfBucketAnswersTheHighestFiniteBound) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<BucketCount> b{{0.1, 1}, {1.0, 2}, {inf, 10}};
  EXPECT_DOUBLE_EQ(histogram_quantile(0.99, b), 1.0);
  EXPECT_DOUBLE_EQ(histogram_quantile(0.5, b), 1.0);
}

TEST(HistogramQuantile, EdgeCases) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {{0.1, 0}, {inf, 0}})));        // no observation
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {{0.1, 1}, {1.0, 2}})));        // no +Inf bucket
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {{inf, 3}})));                  // one bucket
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, {})));
  EXPECT_EQ(histogram_quantile(-0.1, {{0.1, 1}, {inf, 1}}), -inf);
  EXPECT_EQ(histogram_quantile(1.1, {{0.1, 1}, {inf, 1}}), inf);
  EXPECT_TRUE(std::isnan(histogram_quantile(std::nan(""), {{0.1, 1}, {inf, 1}})));
  // A first bound <= 0 is answered as is.
  EXPECT_DOUBLE_EQ(histogram_quantile(0.1, {{-1, 5}, {1, 10}, {inf, 10}}), -1);
  // Non-monotonic counts (a scrape racing observations) are made monotonic.
  EXPECT_DOUBLE_EQ(histogram_quantile(0.5, {{0.1, 4}, {0.2, 3}, {0.4, 8}, {inf, 8}}), 0.1);
}

}  // namespace
}  // namespace rs::metrics
