// The JSON log format (pure helpers) and a real line through spdlog.
#include <gtest/gtest.h>

#include "rs/core/log.h"

namespace rs {
namespace {

TEST(JsonLog, FindsTheJobWorkerAndDeviceOfAMessage) {
  LogSubjects s = log_subjects("broker: DISPATCH of j-a37709efa5292d91-12 to worker w-vm-13289 device 1");
  EXPECT_EQ(s.job, "j-a37709efa5292d91-12");
  EXPECT_EQ(s.worker, "w-vm-13289");
  ASSERT_TRUE(s.device.has_value());
  EXPECT_EQ(*s.device, 1);
  LogSubjects none = log_subjects("broker: a worker that went away; xj-a37709efa5292d91-1");
  EXPECT_TRUE(none.job.empty());
  EXPECT_TRUE(none.worker.empty());
  EXPECT_FALSE(none.device.has_value());
  EXPECT_EQ(log_subjects("worker w1: device 0 engine stalled").worker, "w1");
}

TEST(JsonLog, QuotesEverythingAsValidJson) {
  EXPECT_EQ(json_quote("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  EXPECT_EQ(json_quote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(json_quote("bad \xff byte"), "\"bad \xef\xbf\xbd byte\"");
  EXPECT_EQ(json_quote("cut \xc3"), "\"cut \xef\xbf\xbd\"");
}

TEST(JsonLog, ALineHasTheFieldsInOrder) {
  EXPECT_EQ(json_log_line("2026-12-03T18:00:00.000Z", "info", "broker",
                          "job j-0123456789abcdef-7 done on worker w1"),
            "{\"ts\":\"2026-12-03T18:00:00.000Z\",\"level\":\"info\",\"program\":\"broker\","
            "\"msg\":\"job j-0123456789abcdef-7 done on worker w1\","
            "\"job\":\"j-0123456789abcdef-7\",\"worker\":\"w1\"}");
  EXPECT_TRUE(valid_log_format("json"));
  EXPECT_TRUE(valid_log_format("text"));
  EXPECT_FALSE(valid_log_format("xml"));
}

}  // namespace
}  // namespace rs
