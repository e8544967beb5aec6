// `ringserve batch run|status` and `ringserve jobs dead|retry` (spawned from bin_dir())
// against a real redis-server; no broker: the test plays it, reading the ingest stream with
// IngestStream (group "brokers") and appending BatchResults. Checks: every line enqueued
// with its fields and at most --concurrency in flight; one OUTPUT line per input line,
// results answered out of order; SIGINT then a re-run resumes without enqueuing written
// lines; a result delivered but not acked is not written twice; bad lines name the line;
// status counts; a dead-lettered job listed, retried through the ingest stream, removed.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_process.h"
#include "redis_server.h"
#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"
#include "test_paths.h"

namespace rs::client::testing {
namespace {

namespace fs = std::filesystem;
namespace sc = rs::schemas;
using Json = nlohmann::json;

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The broker's side of batches, played by the test: reads the ingest stream, answers
// each (batch, id) once (idempotency), newest first within a read (out of order).
class FakeBroker {
 public:
  explicit FakeBroker(store::RedisConnection& conn) : conn_(conn), ingest_(conn), results_(conn) {
    EXPECT_TRUE(ingest_.ensure_group().ok());
  }
  // Items whose id is in `hold` are read but not answered yet (answered by a later turn()).
  void turn(const std::set<std::string>& hold = {}) {
    auto entries = ingest_.read(256);
    ASSERT_TRUE(entries.ok()) << entries.status().to_string();
    for (auto& e : *entries) {
      auto item = store::ingest_from_fields(e.entry_id, e.fields);
      ASSERT_TRUE(item.ok()) << item.status().to_string();
      items.push_back(*item);
      waiting_.push_back(*item);
      EXPECT_TRUE(conn_.command(ingest_.ack_command(e.entry_id)).ok());
    }
    max_unanswered = std::max(max_unanswered, items.size() - n_answered);
    std::vector<store::IngestItem> keep;
    for (auto it = waiting_.rbegin(); it != waiting_.rend(); ++it) {
      if (hold.count(it->item_id) > 0) {
        keep.insert(keep.begin(), *it);
        continue;
      }
      if (answered_.insert(it->batch + "/" + it->item_id).second) answer(*it);
    }
    waiting_ = keep;
  }
  void answer(const store::IngestItem& item) {
    store::BatchResult r;
    r.batch = item.batch;
    r.item_id = item.item_id;
    bool poison = item.request.prompt == "poison";
    r.text = poison ? "" : "echo: " + item.request.prompt;
    r.record.job_id = "j-" + item.item_id;
    r.record.state = poison ? sc::JobState::kFailed : sc::JobState::kSucceeded;
    r.record.model = item.request.model;
    r.record.model_version = 3;
    r.record.attempt = 1;
    r.record.usage = {.prompt_tokens = 4, .completion_tokens = 2, .queue_ms = 1.5, .ttft_ms = 2.5, .decode_tps = 100};
    if (poison) {
      r.record.error_code = sc::ErrorCode::kInternal;
      r.record.error = "engine failed";
    }
    auto reply = conn_.command(results_.append_command(r));
    ASSERT_TRUE(reply.ok() && !reply->is_error());
    ++n_answered;
  }
  std::vector<store::IngestItem> items;  // every entry read, in stream order
  size_t n_answered = 0;
  size_t max_unanswered = 0;  // entries read and not answered yet, at most (in flight)

 private:
  store::RedisConnection& conn_;
  store::IngestStream ingest_;
  store::BatchResults results_;
  std::vector<store::IngestItem> waiting_;
  std::set<std::string> answered_;
};

class BatchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::RedisServer::available()) GTEST_SKIP() << "redis-server not installed";
    ASSERT_TRUE(redis_.start());
    store::RedisOptions ro;
    ro.port = redis_.port();
    conn_ = std::make_unique<store::RedisConnection>(ro);
    ASSERT_TRUE(conn_->connect().ok());
  }

  std::string redis_flag() const { return "127.0.0.1:" + std::to_string(redis_.port()); }
  std::string file(const std::string& name) const { return dir_.file(name); }
  std::string bin() const { return fs::absolute(test::bin_dir()).string() + "/ringserve"; }
  void write(const std::string& name, const std::string& text) { std::ofstream(file(name)) << text; }

  std::vector<std::string> run_argv(const std::vector<std::string>& extra) const {
    std::vector<std::string> argv{bin(), "batch", "run", file("in.jsonl"), "-o", file("out.jsonl"),
                                  "--redis", redis_flag(), "--progress-ms", "50"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // Runs `batch run` while the fake broker answers; returns the exit code.
  int run_batch(FakeBroker& broker, const std::vector<std::string>& extra = {}) {
    test::ChildProcess p;
    EXPECT_TRUE(p.start(run_argv(extra), file("err.txt")));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (p.alive() && std::chrono::steady_clock::now() < deadline) {
      broker.turn();
      p.read_available();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(p.wait_exit(2000)) << test::file_tail(file("err.txt"));
    stdout_ = p.read_all(1000);
    return p.exit_code();
  }

  // A synchronous ringserve run: exit code, stdout in out.
  int ringserve(const std::vector<std::string>& args, std::string& out) {
    std::vector<std::string> argv{bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--redis", redis_flag()});
    test::ChildProcess p;
    EXPECT_TRUE(p.start(argv, file("err.txt")));
    out = p.read_all(5000);
    EXPECT_TRUE(p.wait_exit(5000));
    return p.exit_code();
  }

  std::map<std::string, Json> output_by_id() {
    std::map<std::string, Json> out;
    for (const auto& line : read_lines(file("out.jsonl"))) {
      Json j = Json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << line;
      std::string id = j.value("id", "");
      EXPECT_EQ(out.count(id), 0u) << "id written twice: " << id;
      out[id] = j;
    }
    return out;
  }
  std::string batch_id() {
    std::string s = slurp(file("out.jsonl.batch"));
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  uint64_t pipeline_pending(const std::string& batch) {
    auto r = conn_->command({"XPENDING", store::KeySpace{}.batch_results(batch), "pipeline"});
    return r.ok() && r->is_array() && !r->elements.empty() ? static_cast<uint64_t>(r->elements[0].integer) : 999;
  }

  test::RedisServer redis_;
  test::TempDir dir_{"rs-batch-cli"};
  std::unique_ptr<store::RedisConnection> conn_;
  std::string stdout_;
};

TEST_F(BatchCliTest, RunEnqueuesEveryLineAndWritesOneResultLineEach) {
  write("in.jsonl",
        "{\"prompt\":\"alpha\",\"id\":\"a\",\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":3,"
        "\"seed\":11,\"stop\":[\"\\n\",\"END\"]}\n"
        "\n"
        "{\"prompt\":\"beta\",\"model\":\"other@2\"}\n"
        "{\"prompt\":\"gamma\",\"id\":42}\n"
        "{\"prompt\":\"poison\",\"id\":\"p\"}\n"
        "{\"prompt\":\"delta\",\"id\":\"d\",\"extra\":\"ignored\"}\n");
  FakeBroker broker(*conn_);
  ASSERT_EQ(run_batch(broker, {"--model", "tiny", "--concurrency", "2", "--json"}), 0)
      << test::file_tail(file("err.txt"));
  EXPECT_LE(broker.max_unanswered, 2u);
  const std::string batch = batch_id();
  ASSERT_FALSE(batch.empty());
  ASSERT_EQ(broker.items.size(), 5u);
  std::map<std::string, store::IngestItem> items;
  for (const auto& it : broker.items) items[it.item_id] = it;
  ASSERT_EQ(items.size(), 5u);
  for (const auto& [id, it] : items) EXPECT_EQ(it.batch, batch) << id;
  const auto& a = items["a"].request;
  EXPECT_EQ(a.model, "tiny");
  EXPECT_EQ(a.prompt, "alpha");
  EXPECT_EQ(a.max_tokens, 7u);
  EXPECT_FLOAT_EQ(a.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(a.sampling.top_p, 0.9f);
  EXPECT_EQ(a.sampling.top_k, 3);
  EXPECT_EQ(a.sampling.seed, 11u);
  EXPECT_EQ(a.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_EQ(a.priority, sc::Priority::kBatch);
  EXPECT_TRUE(a.idempotency_key.empty());  // the broker makes "ingest:<batch>:<id>"
  EXPECT_EQ(items["3"].request.model, "other@2");  // no id: the line number
  EXPECT_EQ(items["3"].request.max_tokens, 128u);
  EXPECT_EQ(items.count("42"), 1u);

  auto out = output_by_id();
  ASSERT_EQ(out.size(), 5u);
  for (const auto& [id, j] : out) {
    std::vector<std::string> keys;
    for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
    for (const char* k : {"id", "state", "text", "usage", "error", "job_id", "model_version"}) {
      EXPECT_TRUE(j.contains(k)) << k << " missing: " << j.dump();
    }
    for (const char* k : {"prompt_tokens", "completion_tokens", "queue_ms", "ttft_ms", "decode_tps"}) {
      EXPECT_TRUE(j["usage"].contains(k)) << k << " missing: " << j.dump();
    }
    EXPECT_EQ(j["job_id"], "j-" + id);
    EXPECT_EQ(j["model_version"], 3);
  }
  EXPECT_EQ(out["a"]["text"], "echo: alpha");
  EXPECT_EQ(out["a"]["state"], "SUCCEEDED");
  EXPECT_EQ(out["a"]["error"], "");
  EXPECT_EQ(out["p"]["state"], "FAILED");
  EXPECT_EQ(out["p"]["error"], "engine failed");
  EXPECT_EQ(pipeline_pending(batch), 0u);
  Json summary = Json::parse(stdout_.substr(0, stdout_.find('\n')), nullptr, false);
  EXPECT_EQ(summary.value("written", 0), 5) << stdout_;
  EXPECT_EQ(summary.value("failed", 0), 1) << stdout_;
  EXPECT_NE(slurp(file("err.txt")).find("5/5 done"), std::string::npos) << slurp(file("err.txt"));

  // status: the batch hash and the results stream.
  std::string status_out;
  ASSERT_EQ(ringserve({"batch", "status", batch, "--json"}, status_out), 0) << slurp(file("err.txt"));
  Json s = Json::parse(status_out, nullptr, false);
  EXPECT_EQ(s["total"], 5);
  EXPECT_EQ(s["finished"], 5);
  EXPECT_EQ(s["succeeded"], 4);
  EXPECT_EQ(s["failed"], 1);
  EXPECT_EQ(s["pending"], 0);
  EXPECT_EQ(s["output"], fs::absolute(file("out.jsonl")).string());
}

TEST_F(BatchCliTest, InterruptThenRerunEnqueuesOnlyMissingLines) {
  std::string in;
  for (const char* id : {"a", "b", "c", "d", "e"}) in += std::string("{\"prompt\":\"p-") + id + "\",\"id\":\"" + id + "\"}\n";
  write("in.jsonl", in);
  FakeBroker broker(*conn_);
  {
    test::ChildProcess p;
    ASSERT_TRUE(p.start(run_argv({"--model", "tiny"}), file("err.txt")));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (read_lines(file("out.jsonl")).size() < 2 && std::chrono::steady_clock::now() < deadline) {
      broker.turn({"c", "d", "e"});
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(read_lines(file("out.jsonl")).size(), 2u);
    ::kill(p.pid(), SIGINT);
    ASSERT_TRUE(p.wait_exit(5000));
    EXPECT_EQ(p.exit_code(), 130) << test::file_tail(file("err.txt"));
    EXPECT_NE(slurp(file("err.txt")).find("interrupted: 2/5"), std::string::npos) << slurp(file("err.txt"));
  }
  size_t first_run_items = broker.items.size();
  ASSERT_EQ(run_batch(broker, {"--model", "tiny"}), 0) << test::file_tail(file("err.txt"));
  for (size_t i = first_run_items; i < broker.items.size(); ++i) {
    EXPECT_NE(broker.items[i].item_id, "a");
    EXPECT_NE(broker.items[i].item_id, "b");
  }
  auto out = output_by_id();
  EXPECT_EQ(out.size(), 5u);
  EXPECT_EQ(read_lines(file("out.jsonl")).size(), 5u);
  EXPECT_EQ(broker.n_answered, 5u);
}

TEST_F(BatchCliTest, ResultDeliveredButNotAckedIsNotWrittenTwice) {
  // A run that died between writing line "1" and acking it, with "2" delivered, unwritten.
  const std::string batch = "b-crash";
  write("out.jsonl.batch", batch + "\n");
  write("out.jsonl", "{\"id\":\"1\",\"state\":\"SUCCEEDED\",\"text\":\"first\"}\n{\"id\":\"2\",\"sta");  // torn tail
  write("in.jsonl", "{\"prompt\":\"one\"}\n{\"prompt\":\"two\"}\n{\"prompt\":\"three\"}\n");
  store::BatchResults results(*conn_);
  ASSERT_TRUE(results.ensure_group(batch, "pipeline").ok());
  FakeBroker broker(*conn_);
  for (const char* id : {"1", "2"}) {
    store::IngestItem item;
    item.batch = batch;
    item.item_id = id;
    item.request.prompt = std::string("pending ") + id;
    broker.answer(item);
  }
  auto delivered = results.read(batch, "pipeline", "cli", 10, 0);
  ASSERT_TRUE(delivered.ok());
  ASSERT_EQ(delivered->size(), 2u);
  ASSERT_EQ(pipeline_pending(batch), 2u);

  ASSERT_EQ(run_batch(broker, {"--model", "tiny"}), 0) << test::file_tail(file("err.txt"));
  auto lines = read_lines(file("out.jsonl"));
  ASSERT_EQ(lines.size(), 3u) << slurp(file("out.jsonl"));
  auto out = output_by_id();
  EXPECT_EQ(out["1"]["text"], "first");            // the line from before, not rewritten
  EXPECT_EQ(out["2"]["text"], "echo: pending 2");  // from the pending result
  EXPECT_EQ(out["3"]["text"], "echo: three");
  ASSERT_EQ(broker.items.size(), 1u);  // only "3" was enqueued
  EXPECT_EQ(broker.items[0].item_id, "3");
  EXPECT_EQ(pipeline_pending(batch), 0u);
  EXPECT_NE(slurp(file("err.txt")).find("incomplete last line"), std::string::npos);
}

TEST_F(BatchCliTest, BadInputLinesAreErrorsNamingTheLine) {
  write("in.jsonl",
        "{\"prompt\":\"fine\",\"id\":\"x\"}\n"
        "{\"prompt\": oops}\n"
        "[1,2]\n"
        "{\"id\":\"y\"}\n"
        "{\"prompt\":\"dup\",\"id\":\"x\"}\n"
        "{\"prompt\":\"p\",\"max_tokens\":0}\n"
        "{\"prompt\":\"p\",\"id\":\"bad id!\"}\n"
        "{\"prompt\":\"p\",\"stop\":[1]}\n");
  std::string out;
  EXPECT_EQ(ringserve({"batch", "run", file("in.jsonl"), "-o", file("out.jsonl"), "--model", "tiny"}, out), 1);
  std::string err = slurp(file("err.txt"));
  const std::string in = file("in.jsonl");
  EXPECT_NE(err.find(in + ":2: not valid JSON"), std::string::npos) << err;
  EXPECT_NE(err.find(in + ":3: not a JSON object"), std::string::npos) << err;
  EXPECT_NE(err.find(in + ":4: \"prompt\" missing"), std::string::npos) << err;
  EXPECT_NE(err.find(in + ":5: duplicate id 'x' (first on line 1)"), std::string::npos) << err;
  EXPECT_NE(err.find(in + ":6: \"max_tokens\""), std::string::npos) << err;
  EXPECT_NE(err.find(in + ":7: \"id\""), std::string::npos) << err;
  EXPECT_NE(err.find(in + ":8: \"stop\""), std::string::npos) << err;
  auto len = conn_->command({"XLEN", store::KeySpace{}.ingest()});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ(len->integer, 0);  // nothing enqueued

  write("in.jsonl", "{\"prompt\":\"no model\"}\n");
  EXPECT_EQ(ringserve({"batch", "run", file("in.jsonl"), "-o", file("out.jsonl")}, out), 1);
  EXPECT_NE(slurp(file("err.txt")).find(":1: no model"), std::string::npos) << slurp(file("err.txt"));
}

TEST_F(BatchCliTest, JobsDeadListsAndRetryRequeuesThroughTheIngestStream) {
  store::JobStore jobs(*conn_);
  sc::JobRecord rec;
  rec.job_id = "j-dead-1";
  rec.model = "tiny";
  rec.priority = sc::Priority::kBatch;
  sc::SubmitRequest req;
  req.model = "tiny";
  req.prompt = "poison prompt";
  req.max_tokens = 9;
  req.priority = sc::Priority::kBatch;
  req.idempotency_key = "ingest:b-7:item-4";
  ASSERT_TRUE(jobs.create(rec, req).ok());
  ASSERT_TRUE(conn_->command({"HSET", store::KeySpace{}.job(rec.job_id), "batch", "b-7", "item_id", "item-4",
                              "attempt", "3", "error_code", "internal", "error", "engine failed", "state", "FAILED"})
                  .ok());
  ASSERT_TRUE(jobs.push_dead_letter(rec.job_id).ok());

  std::string out;
  ASSERT_EQ(ringserve({"jobs", "dead", "--json"}, out), 0) << slurp(file("err.txt"));
  Json j = Json::parse(out.substr(0, out.find('\n')), nullptr, false);
  EXPECT_EQ(j["job"], "j-dead-1") << out;
  EXPECT_EQ(j["model"], "tiny");
  EXPECT_EQ(j["error"], "engine failed");
  EXPECT_EQ(j["attempts"], 3);
  EXPECT_EQ(j["batch"], "b-7");
  EXPECT_EQ(j["item_id"], "item-4");
  ASSERT_EQ(ringserve({"jobs", "dead"}, out), 0);
  EXPECT_NE(out.find("j-dead-1"), std::string::npos) << out;

  ASSERT_EQ(ringserve({"jobs", "retry", "j-dead-1"}, out), 0) << slurp(file("err.txt"));
  std::string entry = out.substr(0, out.find('\n'));
  FakeBroker broker(*conn_);
  broker.turn();
  ASSERT_EQ(broker.items.size(), 1u);
  const auto& item = broker.items[0];
  EXPECT_EQ(item.entry_id, entry);
  EXPECT_EQ(item.batch, "b-7");
  EXPECT_EQ(item.item_id, "item-4");
  EXPECT_EQ(item.request.prompt, "poison prompt");
  EXPECT_EQ(item.request.max_tokens, 9u);
  EXPECT_EQ(item.request.idempotency_key, "retry:j-dead-1");
  auto dead = jobs.dead_letters();
  ASSERT_TRUE(dead.ok());
  EXPECT_TRUE(dead->empty());
  ASSERT_EQ(ringserve({"jobs", "dead", "--json"}, out), 0);
  EXPECT_EQ(out, "");
  EXPECT_EQ(ringserve({"jobs", "retry", "j-dead-1"}, out), 1);
  EXPECT_NE(slurp(file("err.txt")).find("not on the dead-letter list"), std::string::npos);
}

}  // namespace
}  // namespace rs::client::testing
