// Acceptance (issue 4): hot model updates under load with zero dropped jobs. Real
// redis-server, broker and workers in registry mode (`--redis --serve tiny`), versions
// registered and activated with the `ringserve models` CLI. v1 and v2 are synthetic models
// of one shape with different weight seeds, so their greedy outputs differ; every job's
// tokens are checked against a direct engine run of the version its record names.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "model_versions.h"
#include "process_harness.h"
#include "streaming_client.h"

namespace rs::test {
namespace {

namespace sc = rs::schemas;

constexpr size_t kClients = 4;

// model_wait_ms: how long a job for a model nobody serves waits (a drain-and-swap makes a
// model briefly unserved: the default is far above a drain of these jobs).
PoolOptions registry_pool(int workers, int devices, int model_wait_ms = 30000) {
  PoolOptions o;
  o.workers = workers;
  o.devices = devices;
  o.heartbeat_ms = 200;
  o.registry = true;
  o.serve = {"tiny"};
  o.broker_args = {"--registry-poll-ms", "100", "--model-wait-ms", std::to_string(model_wait_ms)};
  o.worker_args = {"--max-batch-size", "8", "--kv-blocks", "200", "--registry-poll-ms", "500"};
  return o;
}

// Several raw streaming clients and the jobs of each phase of a test.
class Traffic {
 public:
  Traffic(zmq::context_t& ctx, const std::string& endpoint) {
    for (size_t i = 0; i < kClients; ++i) clients_.push_back(std::make_unique<StreamingClient>(ctx, endpoint));
  }
  struct JobRef {
    size_t client = 0;
    std::string id;
  };
  // n jobs, each a new session "<tag>-<j>", spread over the clients.
  std::vector<JobRef> submit(const std::string& tag, size_t n, const std::string& prompt, uint32_t n_tokens) {
    std::vector<JobRef> out;
    for (size_t j = 0; j < n; ++j) {
      sc::SubmitRequest r = make_request("tiny", prompt, n_tokens);
      r.session_id = tag + "-" + std::to_string(j);
      JobRef ref{(next_++) % kClients, {}};
      EXPECT_TRUE(clients_[ref.client]->submit(r, &ref.id)) << "submit " << tag << " " << j;
      out.push_back(ref);
    }
    return out;
  }
  // Reads every client a little, then checks `done` (bounded).
  template <typename F>
  bool read_until(int timeout_ms, F&& done) {
    return Pool::poll_until(timeout_ms, [&] {
      for (auto& c : clients_) {
        while (c->read_one(1)) {
        }
      }
      return done();
    });
  }
  size_t with_tokens(const std::vector<JobRef>& jobs) {
    size_t n = 0;
    for (const JobRef& j : jobs) n += stream(j).seqs.empty() ? 0 : 1;
    return n;
  }
  size_t finished(const std::vector<JobRef>& jobs) {
    size_t n = 0;
    for (const JobRef& j : jobs) n += stream(j).done ? 1 : 0;
    return n;
  }
  Stream& stream(const JobRef& j) { return clients_[j.client]->streams()[j.id]; }

 private:
  std::vector<std::unique_ptr<StreamingClient>> clients_;
  size_t next_ = 0;
};

// Every job SUCCEEDED once, seqs 0.. in order, on `version` (on the wire and in Redis),
// with exactly that version's tokens.
void expect_served_by(Pool& pool, Traffic& traffic, const std::vector<Traffic::JobRef>& jobs,
                      uint32_t version, const std::vector<int32_t>& expected, const char* phase) {
  for (const auto& j : jobs) {
    Stream& s = traffic.stream(j);
    ASSERT_TRUE(s.done.has_value()) << phase << " " << j.id;
    EXPECT_EQ(s.n_done, 1u) << phase << " " << j.id;
    EXPECT_EQ(s.done->state, sc::JobState::kSucceeded) << phase << " " << j.id << ": " << s.done->error;
    EXPECT_EQ(s.done->model, "tiny") << phase;
    EXPECT_EQ(s.done->model_version, version) << phase << " " << j.id;
    for (size_t i = 0; i < s.seqs.size(); ++i) ASSERT_EQ(s.seqs[i], i) << phase << " " << j.id;
    EXPECT_EQ(s.tokens, expected) << phase << " " << j.id << " on v" << s.done->model_version;
    auto stored = pool.job_store().load(j.id);
    ASSERT_TRUE(stored.ok()) << stored.status().to_string();
    EXPECT_EQ(stored->model_version, version) << phase << " " << j.id;
  }
}

struct TwoVersions {
  TempDir dir{"rs-integ-versions"};
  std::string v1, v2, prompt;
  std::vector<int32_t> ids1, ids2;
  // Medium-sized versions (jobs outlive their submission) and a prompt neither ends early.
  bool make(int n_tokens, bool medium) {
    v1 = synth_version(dir, "v1", 11, medium);
    v2 = synth_version(dir, "v2", 22, medium);
    if (v1.empty() || v2.empty()) return false;
    auto p = long_greedy_prompt(v1, n_tokens);
    if (!p) return false;
    prompt = p->first;
    ids1 = p->second;
    auto other = direct_generate(v2, prompt, n_tokens, 0.0f, 0);
    if (!other) return false;
    ids2 = *other;
    return ids1 != ids2;
  }
};

TEST(ModelsHotSwapTest, ActivateWhileThirtyTwoJobsStreamThenRollBack) {
  constexpr int kTokens = 96;
  Pool pool(registry_pool(2, 2));
  RS_REQUIRE_POOL(pool);
  TwoVersions m;
  ASSERT_TRUE(m.make(kTokens, true)) << "could not make two versions with different outputs";
  ASSERT_TRUE(pool.start_redis());
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v1, true), 1u);
  ASSERT_TRUE(pool.start_broker() && pool.start_workers()) << "pool did not start";
  ASSERT_TRUE(wait_device_keys(pool, 4, {"tiny@1"}, 30000)) << "devices never listed tiny@1";

  zmq::context_t ctx(1);
  Traffic traffic(ctx, pool.client_endpoint());
  // v1 -> v2 while 32 jobs stream on v1.
  auto before = traffic.submit("a", 32, m.prompt, kTokens);
  ASSERT_TRUE(traffic.read_until(30000, [&] { return traffic.with_tokens(before) == before.size(); }));
  size_t unfinished = before.size() - traffic.finished(before);
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v2, true), 2u);
  bool switched = traffic.read_until(30000, [&] { return wait_device_keys(pool, 4, {"tiny@2"}, 1); });
  ASSERT_TRUE(switched) << "devices never switched to tiny@2";
  size_t across = before.size() - traffic.finished(before);
  EXPECT_GT(unfinished, 0u) << "every v1 job had finished before the activation";
  auto after = traffic.submit("b", 16, m.prompt, kTokens);
  ASSERT_TRUE(traffic.read_until(90000, [&] { return traffic.finished(before) + traffic.finished(after) == 48; }));
  expect_served_by(pool, traffic, before, 1, m.ids1, "before the switch");
  expect_served_by(pool, traffic, after, 2, m.ids2, "after the switch");
  std::printf("activate: %zu of 32 v1 jobs running at activation, %zu still running when every device had switched\n",
              unfinished, across);

  // Rollback v2 -> v1 the same way.
  auto on_v2 = traffic.submit("c", 32, m.prompt, kTokens);
  ASSERT_TRUE(traffic.read_until(30000, [&] { return traffic.with_tokens(on_v2) == on_v2.size(); }));
  CliRun rb = run_cli(pool, {"models", "rollback", "tiny"});
  ASSERT_EQ(rb.exit_code, 0) << rb.out;
  ASSERT_TRUE(traffic.read_until(30000, [&] { return wait_device_keys(pool, 4, {"tiny@1"}, 1); }))
      << "devices never rolled back to tiny@1";
  auto back = traffic.submit("d", 16, m.prompt, kTokens);
  ASSERT_TRUE(traffic.read_until(90000, [&] { return traffic.finished(on_v2) + traffic.finished(back) == 48; }));
  expect_served_by(pool, traffic, on_v2, 2, m.ids2, "before the rollback");
  expect_served_by(pool, traffic, back, 1, m.ids1, "after the rollback");
}

TEST(ModelsHotSwapTest, MemoryConstrainedDrainAndSwapLosesNothing) {
  constexpr int kTokens = 96;
  TwoVersions m;
  PoolOptions o = registry_pool(2, 2);
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(m.make(kTokens, true));
  // Room for one version, not two.
  const auto size = std::filesystem::file_size(m.v1);
  const std::vector<std::string> limit = {"--max-model-bytes", std::to_string(size + size / 2)};
  ASSERT_TRUE(pool.start_redis());
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v1, true), 1u);
  ASSERT_TRUE(pool.start_broker());
  ASSERT_GE(pool.add_worker("w1", 2, limit), 0);
  ASSERT_GE(pool.add_worker("w2", 2, limit), 0);
  ASSERT_TRUE(wait_device_keys(pool, 4, {"tiny@1"}, 30000));

  zmq::context_t ctx(1);
  Traffic traffic(ctx, pool.client_endpoint());
  auto before = traffic.submit("a", 24, m.prompt, kTokens);
  ASSERT_TRUE(traffic.read_until(30000, [&] { return traffic.with_tokens(before) == before.size(); }));
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v2, true), 2u);
  auto during = traffic.submit("b", 16, m.prompt, kTokens);  // arrive while the workers drain
  size_t dark_samples = 0;
  bool switched = traffic.read_until(60000, [&] {
    auto keys = device_keys(pool);
    for (const auto& [device, listed] : keys) dark_samples += listed.empty() ? 1 : 0;
    return wait_device_keys(pool, 4, {"tiny@2"}, 1);
  });
  ASSERT_TRUE(switched) << "devices never swapped to tiny@2";
  auto after = traffic.submit("c", 8, m.prompt, kTokens);
  ASSERT_TRUE(traffic.read_until(120000, [&] {
    return traffic.finished(before) + traffic.finished(during) + traffic.finished(after) == 48;
  }));
  expect_served_by(pool, traffic, before, 1, m.ids1, "before the swap");
  expect_served_by(pool, traffic, after, 2, m.ids2, "after the swap");
  size_t on_v1 = 0, on_v2 = 0;
  for (const auto& j : during) {  // either version, but whole: the tokens of the one it names
    Stream& s = traffic.stream(j);
    ASSERT_TRUE(s.done.has_value());
    EXPECT_EQ(s.done->state, sc::JobState::kSucceeded) << j.id << ": " << s.done->error;
    EXPECT_EQ(s.tokens, s.done->model_version == 1 ? m.ids1 : m.ids2) << j.id << " v" << s.done->model_version;
    (s.done->model_version == 1 ? on_v1 : on_v2) += 1;
  }
  std::printf("drain-and-swap: jobs submitted during the swap ran %zu on v1, %zu on v2; %zu device samples "
              "listed no version\n",
              on_v1, on_v2, dark_samples);
}

TEST(ModelsHotSwapTest, CorruptVersionIsRefusedAndTheLastGoodOneKeepsServing) {
  constexpr int kTokens = 12;
  Pool pool(registry_pool(1, 2));
  RS_REQUIRE_POOL(pool);
  TwoVersions m;
  ASSERT_TRUE(m.make(kTokens, false));
  ASSERT_TRUE(pool.start_redis());
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v1, true), 1u);
  ASSERT_TRUE(pool.start_broker() && pool.start_workers());
  ASSERT_TRUE(wait_device_keys(pool, 2, {"tiny@1"}, 30000));
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v2, true), 2u);
  ASSERT_TRUE(wait_device_keys(pool, 2, {"tiny@2"}, 30000));

  // A truncated file is refused at add.
  std::string cut = m.dir.file("truncated.gguf");
  ASSERT_TRUE(truncated_copy(m.v1, cut));
  CliRun bad_add = run_cli(pool, {"models", "add", "tiny", cut});
  EXPECT_NE(bad_add.exit_code, 0) << bad_add.out;
  // v3 registered intact, then damaged on disk: its checksum no longer matches.
  std::string v3 = synth_version(m.dir, "v3", 33, false);
  ASSERT_EQ(cli_add_version(pool, "tiny", v3, false), 3u);
  ASSERT_TRUE(corrupt_middle(v3, 64));
  ASSERT_EQ(run_cli(pool, {"models", "activate", "tiny", "3"}).exit_code, 0);
  nlohmann::json v3_entry;
  bool refused = Pool::poll_until(20000, [&] {
    for (const auto& e : cli_models_list(pool)) {
      if (e.value("version", 0u) == 3 && !e.value("error", std::string()).empty()) v3_entry = e;
    }
    return !v3_entry.is_null();
  });
  ASSERT_TRUE(refused) << "the corrupt v3 never got an error in models list";
  std::printf("v3 error: %s\n", v3_entry["error"].get<std::string>().c_str());
  EXPECT_TRUE(v3_entry["loaded_on"].empty());
  ASSERT_TRUE(wait_device_keys(pool, 2, {"tiny@2"}, 2000)) << "v2 stopped serving";
  auto listed = cli_models_list(pool);
  ASSERT_EQ(listed.size(), 3u) << "the truncated file must not have been registered";
  EXPECT_EQ(listed[1]["loaded_on"].size(), 2u) << listed[1].dump();

  // Unpinned jobs keep running on v2 (v3 is active but nobody could load it).
  auto c = pool.connect();
  ASSERT_TRUE(c.ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    auto a = (*c)->submit(make_request("tiny", m.prompt, kTokens));
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ids.push_back(a->job_id);
  }
  for (const std::string& id : ids) {
    FinishedJob f = wait_job(**c, id);
    ASSERT_TRUE(f.status.ok()) << f.status.to_string();
    EXPECT_EQ(f.record.state, sc::JobState::kSucceeded) << f.record.error;
    EXPECT_EQ(f.record.model_version, 2u);
    EXPECT_EQ(f.ids(), m.ids2);
  }
  // The CLI pins a version and reports it.
  CliRun pinned = run_cli(pool, {"submit", "--model", "tiny@2", "--wait", "--json", "--temperature", "0",
                                 "--max-tokens", std::to_string(kTokens), m.prompt});
  ASSERT_EQ(pinned.exit_code, 0) << pinned.out;
  auto final_line = nlohmann::json::parse(pinned.lines().back());
  EXPECT_EQ(final_line.value("model_version", 0u), 2u) << pinned.out;
  // rm: refused while active (v3) or in use (v2 is loaded).
  EXPECT_NE(run_cli(pool, {"models", "rm", "tiny", "3"}).exit_code, 0);
  EXPECT_NE(run_cli(pool, {"models", "rm", "tiny", "2"}).exit_code, 0);
  EXPECT_EQ(cli_models_list(pool).size(), 3u);
}

TEST(ModelsAvailabilityTest, UnservedModelsFailAfterTheWaitUnknownOnesAtOnce) {
  Pool pool(registry_pool(1, 1, 1500));
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start_redis());
  ASSERT_EQ(cli_add_version(pool, "tiny", pool.model_file(), true), 1u);
  ASSERT_EQ(cli_add_version(pool, "ghost", pool.model_file(), true), 1u);  // nobody serves it
  ASSERT_TRUE(pool.start_broker() && pool.start_workers());
  ASSERT_TRUE(wait_device_keys(pool, 1, {"tiny@1"}, 30000));
  auto c = pool.connect();
  ASSERT_TRUE(c.ok());
  for (const char* model : {"ghost", "tiny@7", "tiny@0x"}) {
    auto a = (*c)->submit(make_request(model, "hello", 4));
    if (std::string(model) == "tiny@7" || std::string(model) == "tiny@0x") {
      // Not in the registry and served by nobody: refused at once.
      ASSERT_FALSE(a.ok()) << model;
      EXPECT_NE(sc::wire_error_of(a.status()), sc::ErrorCode::kOk);
      continue;
    }
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    FinishedJob f = wait_job(**c, a->job_id, 30000);
    ASSERT_TRUE(f.status.ok()) << f.status.to_string();
    EXPECT_EQ(f.record.state, sc::JobState::kFailed);
    EXPECT_EQ(f.record.error_code, sc::ErrorCode::kModelUnavailable) << f.record.error;
  }
  auto unknown = (*c)->submit(make_request("nope", "hello", 4));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(sc::wire_error_of(unknown.status()), sc::ErrorCode::kUnknownModel) << unknown.status().to_string();
  auto pinned = (*c)->submit(make_request("tiny@1", "hello", 4));
  ASSERT_TRUE(pinned.ok()) << pinned.status().to_string();
  FinishedJob f = wait_job(**c, pinned->job_id, 30000);
  EXPECT_EQ(f.record.state, sc::JobState::kSucceeded) << f.record.error;
  EXPECT_EQ(f.record.model_version, 1u);
}

TEST(ModelsPollingTest, AWorkerThatMissedThePublishCatchesUpByPolling) {
  Pool pool(registry_pool(1, 1));
  RS_REQUIRE_POOL(pool);
  TwoVersions m;
  ASSERT_TRUE(m.make(8, false));
  ASSERT_TRUE(pool.start_redis());
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v1, true), 1u);
  ASSERT_TRUE(pool.start_broker());
  // No subscription at all: only the epoch poll can tell this worker.
  ASSERT_GE(pool.add_worker("w1", 1, {"--no-subscribe", "--registry-poll-ms", "500"}), 0);
  ASSERT_TRUE(wait_device_keys(pool, 1, {"tiny@1"}, 30000));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v2, true), 2u);
  ASSERT_TRUE(wait_device_keys(pool, 1, {"tiny@2"}, 10000)) << "the change was not picked up by polling";
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("polling worker switched %.0f ms after the activation (poll interval 500 ms)\n", ms);
  auto c = pool.connect();
  ASSERT_TRUE(c.ok());
  auto a = (*c)->submit(make_request("tiny", m.prompt, 8));
  ASSERT_TRUE(a.ok());
  FinishedJob f = wait_job(**c, a->job_id);
  EXPECT_EQ(f.record.model_version, 2u);
  EXPECT_EQ(f.ids(), m.ids2);
}

TEST(ModelsCanaryTest, TwentyFivePercentOfNewSessionsGoToTheCanary) {
  Pool pool(registry_pool(2, 1));
  RS_REQUIRE_POOL(pool);
  TwoVersions m;
  ASSERT_TRUE(m.make(2, false));
  ASSERT_TRUE(pool.start_redis());
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v1, true), 1u);
  ASSERT_EQ(cli_add_version(pool, "tiny", m.v2, false), 2u);
  ASSERT_TRUE(pool.start_broker() && pool.start_workers());
  ASSERT_TRUE(wait_device_keys(pool, 2, {"tiny@1"}, 30000));
  CliRun canary = run_cli(pool, {"models", "activate", "tiny", "2", "--canary", "25"});
  ASSERT_EQ(canary.exit_code, 0) << canary.out;
  ASSERT_TRUE(wait_device_keys(pool, 2, {"tiny@1", "tiny@2"}, 30000)) << "workers did not load the canary";

  auto c = pool.connect();
  ASSERT_TRUE(c.ok());
  auto run = [&](const std::string& session) -> uint32_t {
    sc::SubmitRequest r = make_request("tiny", m.prompt, 2);
    r.session_id = session;
    auto a = (*c)->submit(r);
    if (!a.ok()) return 0;
    FinishedJob f = wait_job(**c, a->job_id);
    return f.record.state == sc::JobState::kSucceeded ? f.record.model_version : 0;
  };
  // The broker learns of the canary by polling the registry: wait until it routes one.
  int probe = 0;
  ASSERT_TRUE(Pool::poll_until(10000, [&] { return run("probe-" + std::to_string(probe++)) == 2; }));

  constexpr int kSessions = 400;
  std::vector<std::string> ids;
  for (int i = 0; i < kSessions; ++i) {
    sc::SubmitRequest r = make_request("tiny", m.prompt, 2);
    r.session_id = "canary-session-" + std::to_string(i);
    auto a = (*c)->submit(r);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ids.push_back(a->job_id);
  }
  std::vector<uint32_t> version(kSessions, 0);
  int on_v2 = 0;
  for (int i = 0; i < kSessions; ++i) {
    FinishedJob f = wait_job(**c, ids[i]);
    ASSERT_EQ(f.record.state, sc::JobState::kSucceeded) << f.record.error;
    version[i] = f.record.model_version;
    EXPECT_EQ(f.ids(), version[i] == 2 ? m.ids2 : m.ids1);
    on_v2 += version[i] == 2 ? 1 : 0;
  }
  std::printf("canary 25%%: %d of %d new sessions on v2 (%.1f%%)\n", on_v2, kSessions, 100.0 * on_v2 / kSessions);
  EXPECT_GE(on_v2, kSessions * 20 / 100);
  EXPECT_LE(on_v2, kSessions * 30 / 100);
  // A session stays on the version it started on.
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(run("canary-session-" + std::to_string(i)), version[i]) << "session " << i << " switched version";
  }
}

}  // namespace
}  // namespace rs::test
