// The `ringserve` command line (spawned from bin_dir()) against an in-process BrokerLoop
// and a scripted worker: --json lines parse and carry their fields; errors and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client_fixture.h"
#include "test_paths.h"

namespace rs::client::testing {
namespace {

struct CliRun {
  int exit_code = -1;
  std::vector<nlohmann::json> lines;  // stdout, one JSON object per line
  std::string out;
  std::string err;
};

class CliTest : public ClientTest {
 protected:
  CliRun ringserve(const std::string& args, bool json = true, const std::string& pipe_in = "") {
    std::string err_path = ::testing::TempDir() + "ringserve_cli_err_" + std::to_string(::getpid());
    std::string cmd = pipe_in + rs::test::bin_dir() + "/ringserve " + args + (json ? " --json" : "") + " 2>" + err_path;
    CliRun run;
    FILE* p = ::popen(cmd.c_str(), "r");
    EXPECT_NE(p, nullptr);
    if (p == nullptr) return run;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) run.out.append(buf, n);
    int status = ::pclose(p);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream e(err_path);
    std::stringstream ss;
    ss << e.rdbuf();
    run.err = ss.str();
    std::remove(err_path.c_str());
    if (json) {
      std::istringstream lines(run.out);
      for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
        run.lines.push_back(j);
      }
    }
    return run;
  }
  std::string broker() const { return " --broker " + loop_->client_endpoint(); }

  static void expect_record(const nlohmann::json& j, const std::string& state) {
    for (const char* key :
         {"job", "state", "model", "model_version", "worker", "device", "attempt", "usage", "error",
          "error_code", "priority", "created_ms", "dispatched_ms", "started_ms", "finished_ms",
          "finish_reason", "tenant"}) {
      EXPECT_TRUE(j.contains(key)) << key << " missing in " << j.dump();
    }
    for (const char* key : {"prompt_tokens", "completion_tokens", "queue_ms", "ttft_ms", "decode_tps"}) {
      EXPECT_TRUE(j["usage"].contains(key)) << key << " missing in " << j.dump();
    }
    EXPECT_EQ(j.value("state", ""), state) << j.dump();
    if (state == "SUCCEEDED" || state == "CANCELLED" || state == "FAILED") {
      EXPECT_NE(j.value("finish_reason", ""), "") << j.dump();
    }
  }
};

TEST_F(CliTest, SubmitStreamPrintsTokenLinesThenTheRecord) {
  start_broker();
  scripted("w1", 2);
  CliRun r = ringserve("submit hello --stream --max-tokens 5 --seed 7 --top-k 5 --top-p 0.9 --temperature 0.5 --session-id s1 --affinity-key a1" + broker());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 6u) << r.out;
  for (uint64_t s = 0; s < 5; ++s) {
    EXPECT_EQ(r.lines[s]["seq"], s);
    EXPECT_EQ(r.lines[s]["token"], 100 + s);
    EXPECT_EQ(r.lines[s]["text"], std::string("t").append(std::to_string(s)));
    EXPECT_EQ(r.lines[s]["job"], r.lines[5]["job"]);
  }
  expect_record(r.lines[5], "SUCCEEDED");
  EXPECT_EQ(r.lines[5]["model"], "m");  // the one model served, without --model
  EXPECT_EQ(r.lines[5]["usage"]["completion_tokens"], 5);
  EXPECT_EQ(r.lines[5]["error"], "");
}

TEST_F(CliTest, SubmitThenStatusStreamAndWorkers) {
  start_broker();
  scripted("w1", 2);
  CliRun s = ringserve("submit hello --max-tokens 6 --priority batch --idempotency-key k1" + broker());
  ASSERT_EQ(s.exit_code, 0) << s.err;
  ASSERT_EQ(s.lines.size(), 1u);
  const std::string job = s.lines[0]["job"];
  EXPECT_EQ(s.lines[0]["duplicate"], false);

  CliRun st = ringserve("stream " + job + " --from 2" + broker());
  ASSERT_EQ(st.exit_code, 0) << st.err;
  ASSERT_EQ(st.lines.size(), 5u) << st.out;
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(st.lines[i]["seq"], i + 2);
  expect_record(st.lines[4], "SUCCEEDED");
  EXPECT_EQ(st.lines[4]["priority"], "batch");

  CliRun status = ringserve("status " + job + broker());
  ASSERT_EQ(status.exit_code, 0) << status.err;
  ASSERT_EQ(status.lines.size(), 1u);
  expect_record(status.lines[0], "SUCCEEDED");
  EXPECT_EQ(status.lines[0]["worker"], "w1");

  CliRun dup = ringserve("submit hello --max-tokens 6 --wait --idempotency-key k1" + broker());
  ASSERT_EQ(dup.exit_code, 0) << dup.err;
  ASSERT_EQ(dup.lines.size(), 1u);
  EXPECT_EQ(dup.lines[0]["job"], job);

  CliRun w = ringserve("workers" + broker());
  ASSERT_EQ(w.exit_code, 0) << w.err;
  ASSERT_EQ(w.lines.size(), 1u);
  for (const char* key : {"worker", "device", "models", "free_slots", "max_slots", "running"}) {
    EXPECT_TRUE(w.lines[0].contains(key)) << key;
  }
  CliRun human = ringserve("submit hello --stream --max-tokens 3" + broker(), /*json=*/false);
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out.rfind("t0t1t2\n", 0), 0u) << human.out;
  EXPECT_NE(human.out.find("SUCCEEDED"), std::string::npos) << human.out;
  CliRun table = ringserve("workers" + broker(), /*json=*/false);
  EXPECT_NE(table.out.find("WORKER"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("w1"), std::string::npos) << table.out;
}

TEST_F(CliTest, CancelPrintsTheFinalRecord) {
  start_broker();
  ScriptedWorker& w = scripted("w1", 1);
  w.hold = true;
  auto c = connect();
  auto running = c->submit(request(50));
  auto queued = c->submit(request(50));
  ASSERT_TRUE(running.ok() && queued.ok());
  ASSERT_TRUE(eventually([&] { return w.dispatched.load() == 1; }));
  CliRun q = ringserve("cancel " + queued->job_id + broker());
  ASSERT_EQ(q.exit_code, 0) << q.err;
  ASSERT_EQ(q.lines.size(), 1u);
  expect_record(q.lines[0], "CANCELLED");
  CliRun r = ringserve("cancel " + running->job_id + broker());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  expect_record(r.lines[0], "CANCELLED");
  // A waited job that ends CANCELLED exits 1 after printing its record.
  CliRun s = ringserve("stream " + running->job_id + broker());
  EXPECT_EQ(s.exit_code, 1);
  ASSERT_FALSE(s.lines.empty());
  expect_record(s.lines.back(), "CANCELLED");
}

TEST_F(CliTest, ErrorsAreOneLineAndJson) {
  start_broker(/*max_queued=*/1);
  ScriptedWorker& w = scripted("w1", 1);
  CliRun nf = ringserve("status j-nope" + broker());
  EXPECT_EQ(nf.exit_code, 1);
  EXPECT_EQ(nf.err.rfind("error: not_found: ", 0), 0u) << nf.err;
  ASSERT_EQ(nf.lines.size(), 1u);
  EXPECT_EQ(nf.lines[0]["error"], "not_found");
  EXPECT_TRUE(nf.lines[0].contains("message"));

  CliRun um = ringserve("submit hi --model nope" + broker());
  EXPECT_EQ(um.exit_code, 1);
  EXPECT_EQ(um.err.rfind("error: unknown_model: ", 0), 0u) << um.err;

  CliRun tl = ringserve("submit -" + broker(), true, "head -c 1048577 /dev/zero | tr '\\0' a | ");
  EXPECT_EQ(tl.exit_code, 1);
  EXPECT_EQ(tl.err.rfind("error: prompt_too_long: ", 0), 0u) << tl.err;

  w.hold = true;
  auto c = connect();
  ASSERT_TRUE(c->submit(request(4)).ok());
  ASSERT_TRUE(eventually([&] { return w.dispatched.load() == 1; }));
  ASSERT_TRUE(c->submit(request(4)).ok());
  CliRun qf = ringserve("submit hi" + broker());
  EXPECT_EQ(qf.exit_code, 1);
  EXPECT_EQ(qf.err.rfind("error: queue_full: ", 0), 0u) << qf.err;
  ASSERT_EQ(qf.lines.size(), 1u);
  EXPECT_EQ(qf.lines[0]["error"], "queue_full");
  w.hold = false;

  CliRun un = ringserve("workers --broker tcp://127.0.0.1:1 --timeout-ms 200");
  EXPECT_EQ(un.exit_code, 1);
  EXPECT_EQ(un.err, "error: broker unreachable at tcp://127.0.0.1:1\n");
  ASSERT_EQ(un.lines.size(), 1u);
  EXPECT_EQ(un.lines[0]["error"], "unavailable");

  CliRun usage = ringserve("submit --max-tokens 0 hi" + broker());
  EXPECT_EQ(usage.exit_code, 2);
}

}  // namespace
}  // namespace rs::client::testing
