// `ringserve up` under faults, with real processes: a kill -9 of its redis-server, of a
// worker or of its broker is met by a restart (the pool keeps serving; a streaming CLI
// resumes); a kill -9 of `up` itself leaves no child behind, a CLI waiting on it fails
// within its liveness window, and `up` started again in the same directory replaces the
// stale endpoint and completes every job accepted before the kill (Redis's AOF).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.h"
#include "ringserve_run.h"
#include "test_paths.h"

namespace {

namespace fs = std::filesystem;
using rs::test::json_lines;
using rs::test::RingserveRun;
using UpClock = std::chrono::steady_clock;

constexpr int kStartMs = 120000;  // generous: builds share the machine
constexpr int kJobMs = 120000;

// Polls `done` every 20 ms until it holds or timeout_ms passed.
template <typename F>
bool eventually_within(int timeout_ms, F done) {
  const auto deadline = UpClock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (UpClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// name -> pid, from the var/pids file `up` keeps.
std::map<std::string, pid_t> recorded_pids(const fs::path& dir) {
  std::map<std::string, pid_t> out;
  std::istringstream in(rs::test::read_file(dir / "var" / "pids"));
  pid_t pid = 0;
  unsigned long long ticks = 0;
  std::string name;
  while (in >> pid >> ticks >> name) out[name] = pid;
  return out;
}

pid_t pid_of(const fs::path& dir, const std::string& name) {
  auto pids = recorded_pids(dir);
  auto it = pids.find(name);
  return it == pids.end() ? 0 : it->second;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class UpDurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!rs::test::RedisServer::available()) {
      if (rs::test::in_ci()) FAIL() << "redis-server not installed";
      GTEST_SKIP() << "redis-server not installed";
    }
    dir_ = tmp_.path();
    ASSERT_FALSE(dir_.empty());
  }
  // `ringserve up ARGS` in the test dir, waited on until it printed "pool ready".
  std::unique_ptr<RingserveRun> start_up(std::vector<std::string> args, const std::string& tag) {
    args.insert(args.begin(), "up");
    auto up = std::make_unique<RingserveRun>(dir_, args, tag);
    const bool ready = eventually_within(kStartMs, [&] {
      return !up->running() || up->out().find("pool ready") != std::string::npos;
    });
    EXPECT_TRUE(ready && up->running()) << up->logs();
    return up;
  }
  // `ringserve ARGS` run to its end; its exit code (-1: still running after timeout_ms).
  int run(std::vector<std::string> args, const std::string& tag, int timeout_ms, std::string* out) {
    RingserveRun cli(dir_, std::move(args), tag);
    const int code = cli.wait_exit(timeout_ms);
    if (out != nullptr) *out = cli.out() + cli.err();
    return code;
  }
  // The final record printed by `ringserve stream JOB --json` (after the job is done).
  nlohmann::json follow(const std::string& job, const std::string& tag) {
    std::string out;
    EXPECT_EQ(run({"stream", job, "--json"}, tag, kJobMs, &out), 0) << out;
    auto lines = json_lines(out);
    return lines.empty() ? nlohmann::json() : lines.back();
  }

  rs::test::TempDir tmp_{"rs-up-durable"};
  fs::path dir_;
};

// (a) Redis killed with -9: `up` restarts it (same port, same AOF) instead of stopping the
// pool; a job that ended before the kill is still known (--redis-fsync always), and a job
// submitted afterwards completes.
TEST_F(UpDurabilityTest, RedisKilledIsRestartedAndThePoolKeepsServing) {
  auto up = start_up({"--no-gateway", "--redis-fsync", "always"}, "up");
  ASSERT_TRUE(up->running());
  std::string out;
  ASSERT_EQ(
      run({"submit", "--wait", "--json", "--max-tokens", "4", "before"}, "before", kJobMs, &out), 0)
      << out;
  const std::string before = json_lines(out).back()["job"];

  const pid_t redis = pid_of(dir_, "redis");
  ASSERT_GT(redis, 0);
  ASSERT_EQ(::kill(redis, SIGKILL), 0);
  ASSERT_TRUE(eventually_within(kStartMs, [&] {
    const pid_t now = pid_of(dir_, "redis");
    return now != 0 && now != redis && up->err().find("redis restarted") != std::string::npos;
  })) << up->logs();
  EXPECT_NE(up->err().find("redis (pid " + std::to_string(redis) + ") killed by signal 9"),
            std::string::npos)
      << up->err();

  // The broker reconnects to the restarted Redis; a submission succeeds once it has.
  bool served = eventually_within(kJobMs, [&] {
    return run({"submit", "--wait", "--json", "--max-tokens", "4", "after"}, "after", kJobMs,
               &out) == 0;
  });
  ASSERT_TRUE(served) << out << up->logs();
  EXPECT_EQ(json_lines(out).back()["state"], "SUCCEEDED") << out;
  ASSERT_EQ(run({"status", before, "--json"}, "status", 30000, &out), 0) << out;
  EXPECT_EQ(json_lines(out).back()["state"], "SUCCEEDED") << out;

  EXPECT_TRUE(up->running()) << up->logs();
  ASSERT_EQ(::kill(up->pid(), SIGINT), 0);
  EXPECT_EQ(up->wait_exit(60000), 0) << up->logs();
}

// (b) `up` killed with -9 while jobs run slowly: its children go (PR_SET_PDEATHSIG), a
// streaming CLI fails within its liveness window, and `up` again in the same directory
// replaces the stale endpoint and completes every job accepted before the kill.
TEST_F(UpDurabilityTest, KilledUpIsReplacedAndEveryAcceptedJobCompletes) {
  auto up = start_up({"--no-gateway", "--step-delay-ms", "100"}, "up");
  ASSERT_TRUE(up->running());
  RingserveRun streamer(dir_,
                        {"submit", "--stream", "--json", "--liveness-ms", "2000", "--max-tokens",
                         "200", "--ignore-eos", "a long story"},
                        "streamer");
  ASSERT_TRUE(eventually_within(kJobMs, [&] { return !json_lines(streamer.out()).empty(); }))
      << streamer.err() << up->logs();
  std::vector<std::string> jobs = {json_lines(streamer.out()).front()["job"]};
  for (int i = 0; i < 3; ++i) {
    std::string out;
    ASSERT_EQ(
        run({"submit", "--json", "--max-tokens", "100", "--ignore-eos", "job " + std::to_string(i)},
            "submit-" + std::to_string(i), 30000, &out),
        0)
        << out;
    jobs.push_back(json_lines(out).back()["job"]);
  }

  const std::set<pid_t> children = rs::test::children_of(up->pid());
  ASSERT_EQ(::kill(up->pid(), SIGKILL), 0);
  up->wait_exit(30000);
  EXPECT_EQ(streamer.wait_exit(60000), 1) << streamer.err();
  EXPECT_NE(streamer.err().find("not answering for 2 s"), std::string::npos) << streamer.err();
  EXPECT_TRUE(rs::test::all_gone_within(children, 30000)) << "a child of the killed `up` lingers";
  ASSERT_TRUE(fs::exists(dir_ / "var" / "endpoint")) << "the killed `up` left its endpoint";

  auto again = start_up({"--no-gateway"}, "again");
  ASSERT_TRUE(again->running());
  EXPECT_NE(again->out().find("removed the stale"), std::string::npos) << again->out();
  for (size_t i = 0; i < jobs.size(); ++i) {
    nlohmann::json record = follow(jobs[i], "follow-" + std::to_string(i));
    EXPECT_EQ(record["state"], "SUCCEEDED") << jobs[i] << " " << record.dump() << again->logs();
  }
  ASSERT_EQ(::kill(again->pid(), SIGINT), 0);
  EXPECT_EQ(again->wait_exit(60000), 0) << again->logs();
}

// (c) A worker killed with -9 is started again (its log appended) and serves.
TEST_F(UpDurabilityTest, KilledWorkerIsRestarted) {
  auto up = start_up({"--no-gateway"}, "up");
  ASSERT_TRUE(up->running());
  const pid_t worker = pid_of(dir_, "worker-1");
  ASSERT_GT(worker, 0);
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  const fs::path log = dir_ / "var" / "log" / "worker-1.log";
  ASSERT_TRUE(eventually_within(kStartMs, [&] {
    const pid_t now = pid_of(dir_, "worker-1");
    return now != 0 && now != worker && count_of(rs::test::read_file(log), "ready ") >= 2;
  })) << up->logs();
  EXPECT_NE(up->err().find("worker-1 (pid " + std::to_string(worker) + ") killed by signal 9"),
            std::string::npos)
      << up->err();
  std::string out;
  ASSERT_EQ(
      run({"submit", "--wait", "--json", "--max-tokens", "4", "hello"}, "submit", kJobMs, &out), 0)
      << out << up->logs();
  EXPECT_EQ(json_lines(out).back()["state"], "SUCCEEDED") << out;
  ASSERT_EQ(::kill(up->pid(), SIGINT), 0);
  EXPECT_EQ(up->wait_exit(60000), 0) << up->logs();
}

// The broker killed with -9 mid-stream: `up` restarts it on the same endpoints, the worker
// re-registers with the job, and the streaming CLI (back within its liveness window)
// subscribes again from the next seq: every token once, in order, then SUCCEEDED.
TEST_F(UpDurabilityTest, KilledBrokerIsRestartedAndAStreamGoesOn) {
  auto up = start_up({"--no-gateway", "--step-delay-ms", "50"}, "up");
  ASSERT_TRUE(up->running());
  RingserveRun streamer(dir_,
                        {"submit", "--stream", "--json", "--liveness-ms", "30000", "--max-tokens",
                         "120", "--ignore-eos", "a long story"},
                        "streamer");
  ASSERT_TRUE(eventually_within(kJobMs, [&] { return !json_lines(streamer.out()).empty(); }))
      << streamer.err() << up->logs();
  const pid_t broker = pid_of(dir_, "broker");
  ASSERT_GT(broker, 0);
  ASSERT_EQ(::kill(broker, SIGKILL), 0);
  ASSERT_EQ(streamer.wait_exit(kJobMs), 0) << streamer.out() << streamer.err() << up->logs();
  auto lines = json_lines(streamer.out());
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back()["state"], "SUCCEEDED") << lines.back().dump();
  uint64_t expected = 0;
  for (const auto& l : lines) {
    if (!l.contains("seq")) continue;
    EXPECT_EQ(l["seq"], expected) << streamer.out();
    ++expected;
  }
  EXPECT_EQ(expected, lines.back()["usage"]["completion_tokens"]) << lines.back().dump();
  EXPECT_NE(up->err().find("broker restarted"), std::string::npos) << up->err();
  ASSERT_EQ(::kill(up->pid(), SIGINT), 0);
  EXPECT_EQ(up->wait_exit(60000), 0) << up->logs();
}

}  // namespace
