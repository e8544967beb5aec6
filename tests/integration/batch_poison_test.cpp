// Issue 5: a poison job (one that makes the engine fail every attempt) ends on the
// dead-letter list after max_attempts while the rest of its batch completes. Real
// redis-server, broker (--max-attempts 3) and two workers started with the fault-injection
// knob --fail-on-prompt POISON; the batch goes through `ringserve batch run`. Then
// `ringserve jobs retry` sends the dead job through the ingest stream again: it fails the
// same way and is dead-lettered again (one entry, the new job's).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "process_harness.h"

namespace rs::test {
namespace {

namespace sc = rs::schemas;

constexpr int kLines = 40;
constexpr int kPoisonLine = 17;
constexpr int kMaxTokens = 8;
constexpr float kTemperature = 0.8f;
const char* const kBatch = "poison-batch";

PoolOptions poison_pool() {
  PoolOptions o;
  o.workers = 2;
  o.devices = 1;
  o.heartbeat_ms = 200;
  o.broker_args = {"--max-attempts", "3"};
  // --log-level info (the last one wins): each WORKER_FAILED is logged with its message.
  o.worker_args = {"--max-batch-size", "16", "--fail-on-prompt", "POISON", "--log-level", "info"};
  return o;
}

std::string item_id(int i) { return "q" + std::to_string(i); }
std::string prompt_of(int i) { return i == kPoisonLine ? "item POISON" : "item " + std::to_string(i % 3); }
uint64_t seed_of(int i) { return static_cast<uint64_t>(i % 2); }

// Every non-empty line parsed as JSON (a line that is not throws: the output must be all JSON).
std::vector<nlohmann::json> strict_json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    if (end > begin) out.push_back(nlohmann::json::parse(text.substr(begin, end - begin)));
    begin = end + 1;
  }
  return out;
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return strict_json_lines(ss.str());
}

// `ringserve jobs dead --json` lines (nullopt if the command failed).
std::optional<std::vector<nlohmann::json>> dead_list(Pool& pool) {
  auto out = run_program({program("ringserve"), "jobs", "dead", "--json", "--redis", pool.redis_address()},
                         pool.dir().file("jobs-dead.log"), 30000);
  if (!out) return std::nullopt;
  return strict_json_lines(*out);
}

class BatchPoisonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = std::make_unique<Pool>(poison_pool());
    RS_REQUIRE_POOL(*pool_);
    ASSERT_TRUE(pool_->start()) << "pool did not start";
    for (int i = 0; i < kLines; ++i) {
      if (i == kPoisonLine) continue;
      auto key = std::make_pair(prompt_of(i), seed_of(i));
      if (expected_.count(key) != 0) continue;
      auto ids = direct_generate(pool_->model_file(), key.first, kMaxTokens, kTemperature, key.second);
      ASSERT_TRUE(ids.has_value()) << "direct run failed for '" << key.first << "'";
      expected_[key] = *ids;
    }
  }

  // Writes the input file and runs `ringserve batch run` on it to the end; the output lines.
  std::vector<nlohmann::json> run_batch() {
    const std::string in = pool_->dir().file("in.jsonl");
    const std::string out = pool_->dir().file("out.jsonl");
    {
      std::ofstream f(in);
      for (int i = 0; i < kLines; ++i) {
        f << nlohmann::json{{"id", item_id(i)}, {"model", "tiny"}, {"prompt", prompt_of(i)},
                            {"max_tokens", kMaxTokens}, {"temperature", kTemperature}, {"seed", seed_of(i)}}
                 .dump()
          << "\n";
      }
    }
    ChildProcess run;
    EXPECT_TRUE(run.start({program("ringserve"), "batch", "run", in, "-o", out, "--redis", pool_->redis_address(),
                           "--batch", kBatch, "--concurrency", "8"},
                          pool_->dir().file("batch-run.log")));
    EXPECT_TRUE(run.wait_exit(120000)) << "batch run did not finish";
    EXPECT_EQ(run.exit_code(), 0);
    return read_lines(out);
  }

  // The job's generated ids as stored in its token stream.
  std::vector<int32_t> stored_tokens(const std::string& job_id) {
    auto tokens = pool_->token_log().read(job_id, 0);
    EXPECT_TRUE(tokens.ok()) << tokens.status().to_string();
    std::vector<int32_t> ids;
    if (tokens.ok()) {
      for (const auto& t : tokens->entries) ids.push_back(t.token);
    }
    return ids;
  }

  // The stored record of a dead-lettered job: FAILED max_attempts after 3 attempts.
  void expect_dead_record(const std::string& job_id) {
    auto rec = pool_->job_store().load(job_id);
    ASSERT_TRUE(rec.ok()) << rec.status().to_string();
    EXPECT_EQ(rec->state, sc::JobState::kFailed) << job_id;
    EXPECT_EQ(rec->error_code, sc::ErrorCode::kMaxAttempts) << job_id;
    EXPECT_EQ(rec->attempt, 3u) << job_id;
    EXPECT_NE(rec->error.find("3 attempts"), std::string::npos) << rec->error;
  }

  // Lines of the workers' logs reporting the injected failure (one per failed attempt).
  int injected_failures() {
    int n = 0;
    for (const char* id : {"w1", "w2"}) {
      std::ifstream f(pool_->dir().file(std::string("worker-") + id + ".log"));
      for (std::string line; std::getline(f, line);) {
        if (line.find("failed (internal): injected fault: prompt contains 'POISON'") != std::string::npos) ++n;
      }
    }
    return n;
  }

  std::unique_ptr<Pool> pool_;
  std::map<std::pair<std::string, uint64_t>, std::vector<int32_t>> expected_;
};

TEST_F(BatchPoisonTest, PoisonJobIsDeadLetteredAfterMaxAttemptsAndTheRestOfTheBatchCompletes) {
  auto lines = run_batch();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLines));
  std::set<std::string> ids;
  std::string poison_job;
  for (const auto& l : lines) {
    const std::string id = l.at("id").get<std::string>();
    EXPECT_TRUE(ids.insert(id).second) << id << " written twice";
    const int i = std::stoi(id.substr(1));
    const std::string job = l.at("job_id").get<std::string>();
    if (i == kPoisonLine) {
      poison_job = job;
      EXPECT_EQ(l.at("state"), "FAILED") << l.dump();
      EXPECT_EQ(l.at("error_code"), "max_attempts") << l.dump();
      EXPECT_NE(l.at("error").get<std::string>().find("3 attempts"), std::string::npos) << l.dump();
      continue;
    }
    EXPECT_EQ(l.at("state"), "SUCCEEDED") << l.dump();
    EXPECT_EQ(stored_tokens(job), expected_.at({prompt_of(i), seed_of(i)})) << id;
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kLines));
  ASSERT_FALSE(poison_job.empty());
  expect_dead_record(poison_job);
  EXPECT_TRUE(Pool::poll_until(5000, [&] { return injected_failures() == 3; }))
      << "each attempt fails on a device with the injected engine error: " << injected_failures();
  if (auto rec = pool_->job_store().load(poison_job); rec.ok()) {
    std::printf("poison job %s: %s after %u attempts: %s\n", poison_job.c_str(),
                std::string(sc::error_code_name(rec->error_code)).c_str(), rec->attempt, rec->error.c_str());
  }

  auto dead = dead_list(*pool_);
  ASSERT_TRUE(dead.has_value()) << "jobs dead failed";
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->at(0).at("job"), poison_job);
  EXPECT_EQ(dead->at(0).at("error_code"), "max_attempts");
  EXPECT_EQ(dead->at(0).at("attempts"), 3);
  EXPECT_EQ(dead->at(0).at("batch"), kBatch);
  EXPECT_EQ(dead->at(0).at("item_id"), item_id(kPoisonLine));

  // `jobs retry`: the request goes through the ingest stream again as a new job of the same
  // batch item; it fails the same way and replaces the old entry on the dead-letter list.
  auto retry = run_program({program("ringserve"), "jobs", "retry", poison_job, "--json", "--redis",
                            pool_->redis_address()},
                           pool_->dir().file("jobs-retry.log"), 30000);
  ASSERT_TRUE(retry.has_value()) << "jobs retry failed";
  auto retried = nlohmann::json::parse(*retry);
  EXPECT_EQ(retried.at("job"), poison_job);
  EXPECT_EQ(retried.at("item_id"), item_id(kPoisonLine));
  std::string second_job;
  ASSERT_TRUE(Pool::poll_until(60000, [&] {
    auto d = dead_list(*pool_);
    if (!d || d->size() != 1 || d->at(0).at("job") == poison_job) return false;
    second_job = d->at(0).at("job").get<std::string>();
    return true;
  })) << "the retried job did not reach the dead-letter list";
  expect_dead_record(second_job);
  EXPECT_TRUE(Pool::poll_until(5000, [&] { return injected_failures() == 6; })) << injected_failures();
  std::printf("retried as %s: dead-lettered again\n", second_job.c_str());
  auto dead_again = dead_list(*pool_);
  ASSERT_TRUE(dead_again.has_value());
  ASSERT_EQ(dead_again->size(), 1u) << "one entry, not two";
  EXPECT_EQ(dead_again->at(0).at("item_id"), item_id(kPoisonLine));
  EXPECT_EQ(dead_again->at(0).at("batch"), kBatch);

  // The batch: every item has a result, the poison item failed (its latest result too).
  auto status = run_program({program("ringserve"), "batch", "status", kBatch, "--json", "--redis",
                             pool_->redis_address()},
                            pool_->dir().file("batch-status.log"), 30000);
  ASSERT_TRUE(status.has_value()) << "batch status failed";
  auto s = nlohmann::json::parse(*status);
  EXPECT_EQ(s.at("total"), kLines);
  EXPECT_EQ(s.at("finished"), kLines + 1) << "the retry adds one result";
  EXPECT_EQ(s.at("succeeded"), kLines - 1);
  EXPECT_EQ(s.at("failed"), 1);
  EXPECT_EQ(s.at("pending"), 0);
}

}  // namespace
}  // namespace rs::test
