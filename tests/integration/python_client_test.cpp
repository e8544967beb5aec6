// Acceptance (issue 3): the Python example client (examples/python/ringserve_client.py,
// written from docs/PROTOCOL.md) submits and streams a job against a real pool; also
// stream --from, status and workers. Runs /usr/bin/python3 (Debian's, with python3-zmq and
// python3-msgpack); skips without them, except under CI=true where it fails.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process_harness.h"

namespace rs::test {
namespace {

namespace sc = rs::schemas;

std::string python() { return env_or("RS_PYTHON", "/usr/bin/python3"); }

// The repository root: RS_SOURCE_DIR, else two levels above this file.
std::string script() {
  std::filesystem::path root = env_or("RS_SOURCE_DIR", "");
  if (root.empty()) root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  return (root / "examples" / "python" / "ringserve_client.py").string();
}

std::vector<nlohmann::json> python_json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    std::string line = out.substr(start, nl - start);
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line, nullptr, false));
    start = nl + 1;
  }
  return lines;
}

class PythonClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(python().c_str(), X_OK) != 0 ||
        !run_program({python(), "-c", "import zmq, msgpack"}, "", 20000)) {
      if (in_ci()) FAIL() << python() << " lacks zmq/msgpack (apt-get install python3-zmq python3-msgpack)";
      GTEST_SKIP() << python() << " lacks zmq/msgpack (apt-get install python3-zmq python3-msgpack)";
    }
    RS_REQUIRE_FILE(script());
    PoolOptions o;
    o.workers = 1;
    o.devices = 1;
    pool_ = std::make_unique<Pool>(o);
    RS_REQUIRE_POOL(*pool_);
    ASSERT_TRUE(pool_->start()) << "pool did not start";
  }
  // Runs the script with --broker and `args`; stdout, or nullopt on a non-zero exit (its
  // stderr is then printed unless a failure is expected).
  std::optional<std::string> run(const std::vector<std::string>& args, bool expect_ok = true) {
    std::vector<std::string> argv = {python(), script(), "--broker", pool_->client_endpoint()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto out = run_program(argv, pool_->dir().file("python.log"), 60000);
    if (!out && expect_ok) std::fprintf(stderr, "python stderr:\n%s", file_tail(pool_->dir().file("python.log")).c_str());
    return out;
  }
  std::unique_ptr<Pool> pool_;
};

TEST_F(PythonClientTest, SubmitsAndStreamsAJob) {
  auto out = run({"submit", "--stream", "--max-tokens", "12", "--temperature", "0", "Hello"});
  ASSERT_TRUE(out.has_value()) << "ringserve_client.py submit failed";
  auto lines = python_json_lines(*out);
  ASSERT_GE(lines.size(), 2u) << *out;
  const nlohmann::json& last = lines.back();
  ASSERT_TRUE(last.is_object()) << *out;
  EXPECT_EQ(last.value("state", ""), "SUCCEEDED") << *out;
  EXPECT_EQ(last.value("model", ""), pool_->model_name());
  EXPECT_EQ(last.value("worker", ""), pool_->worker_id(0));
  EXPECT_GE(last.value("attempt", 0), 1);
  const std::string job = last.value("job", "");
  ASSERT_FALSE(job.empty());
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    ASSERT_TRUE(lines[i].is_object()) << *out;
    EXPECT_EQ(lines[i].value("job", ""), job);
    EXPECT_EQ(lines[i].value("seq", -1), static_cast<int>(i)) << "seq out of order";
    EXPECT_TRUE(lines[i].contains("text"));
    ids.push_back(lines[i].value("token", -1));
  }
  ASSERT_TRUE(last.contains("usage"));
  EXPECT_EQ(last["usage"].value("completion_tokens", 0u), ids.size());
  // The same tokens as a direct engine run (greedy).
  auto expected = direct_generate(pool_->model_file(), "Hello", 12, 0.0f, 0);
  ASSERT_TRUE(expected.has_value());
  EXPECT_EQ(ids, *expected);

  // The job in Redis agrees; `stream --from`, `status` and `workers` work too.
  auto stored = pool_->job_store().load(job);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state, sc::JobState::kSucceeded);
  const size_t from = ids.size() / 2;
  auto replay = run({"stream", job, "--from", std::to_string(from)});
  ASSERT_TRUE(replay.has_value());
  auto replay_lines = python_json_lines(*replay);
  ASSERT_EQ(replay_lines.size(), ids.size() - from + 1) << *replay;
  for (size_t i = 0; i + 1 < replay_lines.size(); ++i) {
    EXPECT_EQ(replay_lines[i].value("seq", -1), static_cast<int>(from + i));
    EXPECT_EQ(replay_lines[i].value("token", -1), ids[from + i]);
  }
  EXPECT_EQ(replay_lines.back().value("state", ""), "SUCCEEDED");
  auto status = run({"status", job});
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(python_json_lines(*status).at(0).value("state", ""), "SUCCEEDED");
  auto workers = run({"workers"});
  ASSERT_TRUE(workers.has_value());
  auto devices = python_json_lines(*workers);
  ASSERT_EQ(devices.size(), 1u) << *workers;
  EXPECT_EQ(devices[0].value("worker", ""), pool_->worker_id(0));
}

TEST_F(PythonClientTest, ReportsTypedErrors) {
  EXPECT_FALSE(run({"submit", "--model", "no-such-model", "Hello"}, false).has_value());
  EXPECT_NE(file_tail(pool_->dir().file("python.log")).find("unknown_model"), std::string::npos);
  EXPECT_FALSE(run({"status", "no-such-job"}, false).has_value());
  EXPECT_NE(file_tail(pool_->dir().file("python.log")).find("not_found"), std::string::npos);
}

}  // namespace
}  // namespace rs::test
