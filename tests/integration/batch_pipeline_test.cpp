// Issue 5 (first part): batch pipelines through the Redis ingest stream, with real
// redis-server, broker and workers. 200 entries appended while no broker runs are all
// processed once one starts; `ringserve batch run` drains a JSONL file through the pool, and
// an interrupted run (SIGINT) resumed with the same output processes no line twice.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model_versions.h"
#include "process_harness.h"
#include "rs/store/batch_streams.h"

namespace rs::test {
namespace {

namespace sc = rs::schemas;

PoolOptions batch_pool() {
  PoolOptions o;
  o.workers = 2;
  o.devices = 1;
  o.heartbeat_ms = 200;
  o.worker_args = {"--max-batch-size", "16"};
  return o;
}

// Every result of `batch` so far, drained through consumer group "test".
std::vector<store::BatchResult> drain_results(Pool& pool, const std::string& batch, size_t want, int timeout_ms) {
  store::BatchResults results(pool.redis());
  EXPECT_TRUE(results.ensure_group(batch, "test").ok());
  std::vector<store::BatchResult> out;
  Pool::poll_until(timeout_ms, [&] {
    auto r = results.read(batch, "test", "t", 256, 0);
    if (r.ok()) {
      std::vector<std::string> ids;
      for (auto& x : *r) {
        ids.push_back(x.entry_id);
        out.push_back(std::move(x));
      }
      if (!ids.empty()) (void)results.ack(batch, "test", ids);
    }
    return out.size() >= want;
  });
  return out;
}

// How many job hashes the pool's Redis holds.
size_t job_hashes(Pool& pool) {
  size_t n = 0;
  std::string cursor = "0";
  do {
    auto r = pool.redis().command({"SCAN", cursor, "MATCH", "rs:job:*", "COUNT", "1000"});
    if (!r.ok() || r->elements.size() != 2) return n;
    cursor = r->elements[0].str;
    n += r->elements[1].elements.size();
  } while (cursor != "0");
  return n;
}

TEST(BatchIngestTest, TwoHundredEntriesAppendedWhileNoBrokerRunsAreAllProcessed) {
  Pool pool(batch_pool());
  RS_REQUIRE_POOL(pool);
  auto expected = direct_generate(pool.model_file(), "batch item", 6, 0.0f, 0);
  ASSERT_TRUE(expected.has_value());
  ASSERT_TRUE(pool.start_redis());
  store::IngestStream ingest(pool.redis());
  for (int i = 1; i <= 200; ++i) {
    store::IngestItem item;
    item.batch = "b200";
    item.item_id = std::to_string(i);
    item.request.model = "tiny";
    item.request.prompt = "batch item";
    item.request.max_tokens = 6;
    item.request.sampling.temperature = 0.0f;
    ASSERT_TRUE(ingest.append(item).ok()) << i;
  }
  ASSERT_TRUE(pool.start_broker() && pool.start_workers());
  auto results = drain_results(pool, "b200", 200, 60000);
  ASSERT_EQ(results.size(), 200u);
  std::set<std::string> items, jobs;
  for (const auto& r : results) {
    EXPECT_TRUE(items.insert(r.item_id).second) << "item " << r.item_id << " twice";
    jobs.insert(r.record.job_id);
    EXPECT_EQ(r.record.state, sc::JobState::kSucceeded) << r.item_id << ": " << r.record.error;
    EXPECT_EQ(r.record.usage.completion_tokens, expected->size()) << r.item_id;
    auto tokens = pool.token_log().read(r.record.job_id, 0);
    ASSERT_TRUE(tokens.ok()) << tokens.status().to_string();
    std::vector<int32_t> ids;
    for (const auto& t : tokens->entries) ids.push_back(t.token);
    EXPECT_EQ(ids, *expected) << r.item_id;
  }
  EXPECT_EQ(jobs.size(), 200u);
  auto pending = ingest.pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, 0u) << "every entry is acknowledged once its job is stored";
  EXPECT_EQ(job_hashes(pool), 200u);
}

// `ringserve batch run` with stderr to the pool's dir; returns the child (started).
std::unique_ptr<ChildProcess> start_batch_run(Pool& pool, const std::string& in, const std::string& out) {
  auto p = std::make_unique<ChildProcess>();
  p->start({program("ringserve"), "batch", "run", in, "-o", out, "--redis", pool.redis_address(), "--concurrency",
            "8", "--max-tokens", "24", "--temperature", "0"},
           pool.dir().file("batch-run.log"));
  return p;
}

// The complete lines of OUTPUT (a last line still being written, with no newline yet, is
// left for the next read: the test polls while `batch run` writes).
std::vector<nlohmann::json> pipeline_read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (f.eof()) break;  // no newline after it
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

TEST(BatchRunTest, InterruptedRunResumesWithoutProcessingALineTwice) {
  Pool pool(batch_pool());
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  constexpr int kLines = 120;
  const std::string in = pool.dir().file("in.jsonl");
  const std::string out = pool.dir().file("out.jsonl");
  {
    std::ofstream f(in);
    for (int i = 0; i < kLines; ++i) {
      f << nlohmann::json{{"id", "q" + std::to_string(i)}, {"model", "tiny"}, {"prompt", "line " + std::to_string(i % 3)}}
               .dump()
        << "\n";
    }
  }
  auto first = start_batch_run(pool, in, out);
  ASSERT_TRUE(Pool::poll_until(60000, [&] { return pipeline_read_lines(out).size() >= 20; })) << "no progress";
  ASSERT_EQ(::kill(first->pid(), SIGINT), 0);
  ASSERT_TRUE(first->wait_exit(30000));
  EXPECT_EQ(first->exit_code(), 130);
  const size_t after_first = pipeline_read_lines(out).size();
  std::printf("interrupted after %zu of %d lines\n", after_first, kLines);

  auto second = start_batch_run(pool, in, out);
  ASSERT_TRUE(second->wait_exit(120000)) << "the resumed run did not finish";
  EXPECT_EQ(second->exit_code(), 0);
  auto lines = pipeline_read_lines(out);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLines));
  std::map<std::string, std::string> text_of_prompt;
  std::set<std::string> ids;
  for (const auto& l : lines) {
    const std::string id = l.at("id").get<std::string>();
    EXPECT_TRUE(ids.insert(id).second) << id << " written twice";
    EXPECT_EQ(l.at("state"), "SUCCEEDED") << l.dump();
    for (const char* k : {"text", "usage", "error", "job_id", "model_version"}) EXPECT_TRUE(l.contains(k)) << k;
    // Greedy: every line of the same prompt has the same text.
    const std::string prompt = std::to_string(std::stoi(id.substr(1)) % 3);
    auto [it, fresh] = text_of_prompt.emplace(prompt, l.at("text").get<std::string>());
    if (!fresh) EXPECT_EQ(it->second, l.at("text").get<std::string>()) << id;
  }
  EXPECT_EQ(job_hashes(pool), static_cast<size_t>(kLines)) << "a line was processed twice";
}

}  // namespace
}  // namespace rs::test
