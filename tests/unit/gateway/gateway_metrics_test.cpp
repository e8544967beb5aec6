// GatewayMetrics: route templates (never a raw path or a job id) and the series a request,
// a stream and a refusal leave (pure; no sockets).
#include <gtest/gtest.h>

#include "gateway_metrics.h"

namespace rs::gateway {
namespace {

TEST(GatewayMetricsTest, RoutesAreTemplatesWithoutIds) {
  EXPECT_EQ(route_label("/v1/completions"), "/v1/completions");
  EXPECT_EQ(route_label("/v1/chat/completions?x=1"), "/v1/chat/completions");
  EXPECT_EQ(route_label("/v1/models"), "/v1/models");
  EXPECT_EQ(route_label("/v1/jobs/j-0123456789abcdef-1"), "/v1/jobs/{id}");
  EXPECT_EQ(route_label("/v1/jobs/j-0123456789abcdef-1/events?from=3"), "/v1/jobs/{id}/events");
  EXPECT_EQ(route_label("/health"), "/health");
  EXPECT_EQ(route_label("/etc/passwd"), "other");
  EXPECT_EQ(route_label(""), "other");
}

TEST(GatewayMetricsTest, RequestsStreamsAndRefusalsAreCounted) {
  bool up = true;
  GatewayMetrics m([&up] { return up; });
  m.request_done("/v1/completions", 200, 0.05);
  m.request_done("/v1/completions", 400, 0.001);
  m.stream_opened();
  m.stream_opened();
  m.stream_closed();
  m.auth_failed();
  m.resumed();
  m.disconnect_cancel();
  up = false;
  const std::string text = m.registry().render();
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("ringserve_http_requests_total{route=\"/v1/completions\",status=\"200\"} 1")) << text;
  EXPECT_TRUE(has("ringserve_http_requests_total{route=\"/v1/completions\",status=\"400\"} 1"));
  EXPECT_TRUE(has("ringserve_http_request_duration_seconds_count{route=\"/v1/completions\"} 2"));
  EXPECT_TRUE(has("ringserve_http_active_streams 1"));
  EXPECT_TRUE(has("ringserve_http_auth_failures_total 1"));
  EXPECT_TRUE(has("ringserve_http_stream_resumes_total 1"));
  EXPECT_TRUE(has("ringserve_http_disconnect_cancels_total 1"));
  EXPECT_TRUE(has("ringserve_broker_up 0"));
}

}  // namespace
}  // namespace rs::gateway
