// BrokerMetrics: labels, the periodic gauges and readiness (pure; no sockets).
#include <gtest/gtest.h>

#include "rs/broker/broker_metrics.h"
#include "rs/schemas/frames.h"
#include "rs/schemas/messages.h"

namespace rs::broker {
namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(BrokerMetricsTest, CountsByModelNamePriorityStateAndCode) {
  BrokerCounters counters;
  BrokerMetrics m(counters);
  m.accepted("tiny@2", Priority::kBatch);
  m.accepted("tiny", Priority::kInteractive);
  m.ended("tiny@2", schemas::JobState::kSucceeded);
  m.rejected(schemas::ErrorCode::kQueueFull);
  m.dispatched(Priority::kInteractive, 0.003, 1);
  m.dispatched(Priority::kInteractive, 0.5, 2);
  m.received(schemas::make_frames(schemas::Ping{.request_id = 1}));
  m.received({"garbage"});
  m.sent(schemas::make_frames(schemas::Pong{.request_id = 1}));
  counters.submitted = 7;
  counters.clients_lagged = 2;
  const std::string text = m.registry().render();
  EXPECT_TRUE(has(text, "ringserve_jobs_accepted_total{model=\"tiny\",priority=\"batch\"} 1")) << text;
  EXPECT_TRUE(has(text, "ringserve_jobs_accepted_total{model=\"tiny\",priority=\"interactive\"} 1"));
  EXPECT_TRUE(has(text, "ringserve_jobs_ended_total{model=\"tiny\",state=\"succeeded\"} 1"));
  EXPECT_TRUE(has(text, "ringserve_jobs_rejected_total{code=\"queue_full\"} 1")) << text;
  EXPECT_TRUE(has(text, "ringserve_dispatch_latency_seconds_count{priority=\"interactive\"} 2"));
  EXPECT_TRUE(has(text, "ringserve_redispatches_total 1"));
  EXPECT_TRUE(has(text, "ringserve_messages_received_total{command=\"ping\"} 1")) << text;
  EXPECT_TRUE(has(text, "ringserve_messages_received_total{command=\"invalid\"} 1"));
  EXPECT_TRUE(has(text, "ringserve_messages_sent_total{command=\"pong\"} 1"));
  EXPECT_TRUE(has(text, "ringserve_jobs_submitted_total 7"));
  EXPECT_TRUE(has(text, "ringserve_slow_subscriber_drops_total 2"));
  EXPECT_NE(text.find("ringserve_build_info{program=\"broker\""), std::string::npos);
}

TEST(BrokerMetricsTest, QueueAndDeviceGaugesGoBackToZeroWhenTheirSeriesAreGone) {
  BrokerCounters counters;
  BrokerMetrics m(counters);
  m.publish_queues({{.model = "tiny", .priority = Priority::kInteractive, .depth = 3, .oldest_age_s = 1.5},
                    {.model = "tiny@2", .priority = Priority::kInteractive, .depth = 2, .oldest_age_s = 4}});
  m.publish_devices(1, {{"tiny", 2}});
  std::string text = m.registry().render();
  EXPECT_TRUE(has(text, "ringserve_queue_depth{model=\"tiny\",priority=\"interactive\"} 5")) << text;
  EXPECT_TRUE(has(text, "ringserve_queue_oldest_age_seconds{model=\"tiny\",priority=\"interactive\"} 4"));
  EXPECT_TRUE(has(text, "ringserve_devices_live{model=\"tiny\"} 2"));
  EXPECT_TRUE(has(text, "ringserve_workers_live 1"));
  m.publish_queues({});
  m.publish_devices(0, {});
  text = m.registry().render();
  EXPECT_TRUE(has(text, "ringserve_queue_depth{model=\"tiny\",priority=\"interactive\"} 0")) << text;
  EXPECT_TRUE(has(text, "ringserve_queue_oldest_age_seconds{model=\"tiny\",priority=\"interactive\"} 0"));
  EXPECT_TRUE(has(text, "ringserve_devices_live{model=\"tiny\"} 0"));
}

TEST(BrokerMetricsTest, ReadyNeedsRedisAndADevice) {
  BrokerCounters counters;
  BrokerMetrics m(counters);
  EXPECT_EQ(m.readiness().reason, "no_devices");
  m.publish_devices(1, {{"tiny", 1}});
  EXPECT_TRUE(m.readiness().ready);
  m.publish_redis_up(false);
  EXPECT_FALSE(m.readiness().ready);
  EXPECT_EQ(m.readiness().reason, "redis_down");
  EXPECT_TRUE(has(m.registry().render(), "ringserve_redis_up 0"));
  m.publish_redis_up(true);
  EXPECT_TRUE(m.readiness().ready);
}

}  // namespace
}  // namespace rs::broker
