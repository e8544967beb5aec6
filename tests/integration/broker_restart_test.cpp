// Issue 5: a batch survives a broker restart. A 1000-line `ringserve batch run` goes
// through the ingest stream; the broker is killed with SIGKILL at ~30% and a new one starts
// on the same endpoints: it reads the live jobs back from Redis, the workers re-register
// listing the jobs they still run (adopted, not run again), and the output has exactly one
// line per input id, each equal to a direct engine run with the same seed.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process_harness.h"

namespace rs::test {
namespace {

namespace sc = rs::schemas;

struct Combo {
  std::string prompt;
  uint64_t seed = 0;
};

std::vector<nlohmann::json> output_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (f.eof()) break;  // a last line still being written (no newline yet)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

std::string job_field(Pool& pool, const std::string& job_id, const std::string& field) {
  auto r = pool.redis().command({"HGET", "rs:job:" + job_id, field});
  return r.ok() && r->is_string() ? r->str : std::string();
}

// The live jobs Redis holds as DISPATCHED or RUNNING (on a worker) right now.
std::set<std::string> jobs_on_workers(Pool& pool) {
  std::set<std::string> out;
  auto ids = pool.redis().command({"ZRANGE", "rs:live", "0", "-1"});
  if (!ids.ok()) return out;
  std::vector<store::RedisCommand> reads;
  for (const auto& e : ids->elements) reads.push_back({"HGET", "rs:job:" + e.str, "state"});
  if (reads.empty()) return out;
  auto states = pool.redis().pipeline(reads);
  if (!states.ok()) return out;
  for (size_t i = 0; i < states->size(); ++i) {
    const std::string& state = (*states)[i].str;
    if (state == "DISPATCHED" || state == "RUNNING") out.insert(ids->elements[i].str);
  }
  return out;
}

TEST(BrokerRestartTest, ThousandJobBatchSurvivesAKillNineOfTheBrokerAtThirtyPercent) {
  PoolOptions o;
  o.workers = 2;
  o.devices = 2;
  o.heartbeat_ms = 200;
  // 5 ms per engine step: a job takes >= 120 ms, so jobs are on the workers at the kill
  // (on the bare tiny model they finished between the check and the kill: nothing to adopt).
  o.worker_args = {"--max-batch-size", "16", "--step-delay-ms", "5"};
  o.broker_args = {"--recovery-wait-ms", "3000"};
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  constexpr int kLines = 1000;
  constexpr int kTokens = 24;
  constexpr float kTemperature = 0.8f;
  const std::vector<Combo> combos = {{"the broker restarts", 11}, {"once upon a time", 22},
                                     {"rings of workers", 33}, {"x", 44}, {"batch line", 55}};
  std::vector<std::vector<int32_t>> expected;
  for (const Combo& c : combos) {
    auto ids = direct_generate(pool.model_file(), c.prompt, kTokens, kTemperature, c.seed);
    ASSERT_TRUE(ids.has_value()) << c.prompt;
    expected.push_back(*ids);
  }
  ASSERT_TRUE(pool.start());
  const std::string in = pool.dir().file("in.jsonl");
  const std::string out = pool.dir().file("out.jsonl");
  {
    std::ofstream f(in);
    for (int i = 0; i < kLines; ++i) {
      const Combo& c = combos[static_cast<size_t>(i) % combos.size()];
      f << nlohmann::json{{"id", "r" + std::to_string(i)}, {"prompt", c.prompt}, {"seed", c.seed},
                          {"temperature", kTemperature}, {"max_tokens", kTokens}}
               .dump()
        << "\n";
    }
  }
  ChildProcess run;
  ASSERT_TRUE(run.start({program("ringserve"), "batch", "run", in, "-o", out, "--redis",
                         pool.redis_address(), "--model", "tiny", "--concurrency", "64"},
                        pool.dir().file("batch-run.log")));
  // Killed at ~30%, at a moment when jobs run on the workers (the pipeline keeps up to 64
  // in flight, but a loaded machine may leave it briefly idle).
  ASSERT_TRUE(Pool::poll_until(180000, [&] {
    return output_lines(out).size() >= kLines * 3 / 10 && jobs_on_workers(pool).size() >= 4;
  })) << "no progress";
  pool.kill_broker();
  const size_t at_kill = output_lines(out).size();
  const std::set<std::string> running_at_kill = jobs_on_workers(pool);  // Redis is frozen now
  ASSERT_TRUE(pool.restart_broker());
  ASSERT_TRUE(run.wait_exit(300000)) << "the batch run did not finish after the restart";
  EXPECT_EQ(run.exit_code(), 0);

  auto lines = output_lines(out);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLines));
  std::set<std::string> ids;
  std::map<size_t, std::string> text_of_combo;
  size_t adopted = 0, rerun = 0;
  for (const auto& l : lines) {
    const std::string id = l.at("id").get<std::string>();
    ASSERT_TRUE(ids.insert(id).second) << id << " written twice";
    ASSERT_EQ(l.at("state"), "SUCCEEDED") << l.dump();
    const size_t combo = static_cast<size_t>(std::stoi(id.substr(1))) % combos.size();
    const std::string job_id = l.at("job_id").get<std::string>();
    auto tokens = pool.token_log().read(job_id, 0);
    ASSERT_TRUE(tokens.ok()) << tokens.status().to_string();
    std::vector<int32_t> got;
    for (const auto& t : tokens->entries) got.push_back(t.token);
    EXPECT_EQ(got, expected[combo]) << id;
    auto [it, fresh] = text_of_combo.emplace(combo, l.at("text").get<std::string>());
    if (!fresh) EXPECT_EQ(it->second, l.at("text").get<std::string>()) << id;
    const std::string attempt = job_field(pool, job_id, "attempt");
    if (!job_field(pool, job_id, "adopted_ms").empty()) {
      ++adopted;
      EXPECT_EQ(attempt, "1") << id << " was adopted, yet ran again";
    }
    if (!attempt.empty() && attempt != "1") ++rerun;
    if (running_at_kill.count(job_id) != 0) {
      EXPECT_TRUE(!job_field(pool, job_id, "adopted_ms").empty() || attempt != "1")
          << id << " was running at the kill: adopted, or requeued with a new attempt";
    }
  }
  std::printf("killed at %zu of %d lines with %zu jobs on workers; %zu adopted by the new "
              "broker, %zu on a second attempt (never started, or their end was lost)\n", at_kill, kLines, running_at_kill.size(), adopted, rerun);
  EXPECT_GT(adopted, 0u) << "jobs running at the kill should be adopted, not run again";
  auto live = pool.redis().command({"ZCARD", "rs:live"});
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->integer, 0) << "every job ended: the live index is empty";
}

}  // namespace
}  // namespace rs::test
