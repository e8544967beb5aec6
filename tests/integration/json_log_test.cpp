// Acceptance (issue 16): --log-format json on the broker and a worker (real processes):
// every line they write is one JSON object with ts, level, program and msg, and a job can
// be followed across both with its "job" field (at --log-level debug: accepted, dispatched,
// started, done, ended).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "process_harness.h"

namespace rs::test::json_log {
namespace {

// Every line of a log file as JSON (a line that does not parse fails the test).
std::vector<nlohmann::json> log_json_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << path << ": not JSON: " << line;
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

std::vector<std::string> messages_of_job(const std::vector<nlohmann::json>& lines,
                                         const std::string& job) {
  std::vector<std::string> out;
  for (const auto& j : lines) {
    if (j.value("job", "") == job) out.push_back(j.value("msg", ""));
  }
  return out;
}

TEST(JsonLogTest, ABrokerAndAWorkerWriteJsonLinesAJobCanBeFollowedThrough) {
  PoolOptions o;
  o.workers = 1;
  o.devices = 1;
  o.broker_args = {"--log-format", "json", "--log-level", "debug"};
  o.worker_args = {"--log-format", "json", "--log-level", "debug"};
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  auto client = pool.connect();
  ASSERT_TRUE(client.ok());
  auto accepted = (*client)->submit(make_request(pool.model_name(), "follow me", 6));
  ASSERT_TRUE(accepted.ok()) << accepted.status().to_string();
  const std::string job = accepted->job_id;
  ASSERT_TRUE(wait_job(**client, job).status.ok());
  ASSERT_TRUE(pool.stop_worker(0));  // its log is complete

  const auto broker = log_json_lines(pool.dir().file("broker.log"));
  const auto worker = log_json_lines(pool.dir().file("worker-w1.log"));
  ASSERT_FALSE(broker.empty());
  ASSERT_FALSE(worker.empty());
  for (const auto* lines : {&broker, &worker}) {
    for (const auto& j : *lines) {
      EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg")) << j.dump();
    }
  }
  EXPECT_EQ(broker.front().value("program", ""), "broker");
  EXPECT_EQ(worker.front().value("program", ""), "worker");
  EXPECT_EQ(worker.front().value("worker", ""), "w1");  // every worker line names it

  const auto in_broker = messages_of_job(broker, job);
  const auto in_worker = messages_of_job(worker, job);
  ASSERT_GE(in_broker.size(), 3u) << "accepted, dispatched, ended";
  auto has = [](const std::vector<std::string>& msgs, const std::string& what) {
    for (const auto& m : msgs) {
      if (m.find(what) != std::string::npos) return true;
    }
    return false;
  };
  // (A job may be dispatched before its ACCEPTED goes out: both follow the same commit.)
  EXPECT_TRUE(has(in_broker, "accepted"));
  EXPECT_TRUE(has(in_broker, "dispatched"));
  EXPECT_NE(in_broker.back().find("ended SUCCEEDED"), std::string::npos) << in_broker.back();
  ASSERT_GE(in_worker.size(), 2u) << "starts, done";
  EXPECT_NE(in_worker.back().find("done on device 0"), std::string::npos) << in_worker.back();
  // The broker's dispatch line names the worker and the device.
  bool dispatch_seen = false;
  for (const auto& j : broker) {
    if (j.value("job", "") == job && j.value("msg", "").find("dispatched") != std::string::npos) {
      dispatch_seen = true;
      EXPECT_EQ(j.value("worker", ""), "w1") << j.dump();
      EXPECT_EQ(j.value("device", -1), 0) << j.dump();
    }
  }
  EXPECT_TRUE(dispatch_seen);
}

}  // namespace
}  // namespace rs::test::json_log
