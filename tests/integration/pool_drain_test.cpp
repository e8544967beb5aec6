// Issue 14: SIGTERM drains a worker. A pool of real processes (redis-server, the broker, two
// one-device workers on stories260K, each engine step slowed so jobs outlive their
// submission): with every job running, w1 gets SIGTERM. The broker then lists w1 with no
// models; jobs submitted after that all run on w2; every job that was running on w1
// finishes there on attempt 1 (DONE record and Redis agree); w1 never refused a DISPATCH,
// says goodbye and exits 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "process_harness.h"

namespace rs::test {
namespace {

namespace sc = rs::schemas;

constexpr uint32_t kTokens = 64;
constexpr int kFirstJobs = 6;  // both devices hold 4: no job waits in the queue
constexpr int kLaterJobs = 4;

const char* const kPrompts[] = {"Once upon a time", "The little dog", "Lily and Tom",
                                "One day, a bird",  "The sun was",    "A big red ball"};

PoolOptions drain_pool_options() {
  PoolOptions o;
  o.workers = 2;
  o.devices = 1;
  o.model_file = model_path("stories260K.gguf");
  o.model_name = "stories";
  // 40 ms per engine step: a 64-token job streams for ~2.5 s. The grace is far longer.
  o.worker_args = {"--max-batch-size", "4", "--step-delay-ms", "40", "--grace-ms", "120000"};
  return o;
}

std::string submit(client::Client& c, int n) {
  sc::SubmitRequest r = make_request("stories", kPrompts[n % 6], kTokens, 0.8f, 100 + n);
  r.session_id = "drain-" + std::to_string(n);
  auto accepted = c.submit(r);
  EXPECT_TRUE(accepted.ok()) << accepted.status().to_string();
  return accepted.ok() ? accepted->job_id : std::string();
}

// The broker's view of worker `id`'s device: nullopt once it is gone.
std::optional<sc::DeviceStatus> device_of(Pool& pool, const std::string& id) {
  for (const sc::DeviceStatus& d : pool.devices()) {
    if (d.worker == id) return d;
  }
  return std::nullopt;
}

TEST(PoolDrainTest, SigtermFinishesRunningJobsOnTheirFirstAttemptAndTakesNoNewOnes) {
  RS_REQUIRE_FILE(model_path("stories260K.gguf"));
  Pool pool(drain_pool_options());
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start()) << "pool did not start";
  const std::string w1 = pool.worker_id(0), w2 = pool.worker_id(1);
  auto c = pool.connect(10000);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto probe = pool.connect(10000);
  ASSERT_TRUE(probe.ok()) << probe.status().to_string();

  std::vector<std::string> jobs;
  for (int n = 0; n < kFirstJobs; ++n) jobs.push_back(submit(**c, n));
  // Every job started (none waits in the queue, so no DISPATCH can be on its way when the
  // signal comes), and w1 streams at least one of them (bounded load gives it two).
  std::set<std::string> on_w1;
  ASSERT_TRUE(Pool::poll_until(60000, [&] {
    on_w1.clear();
    size_t n_started = 0;
    for (const std::string& j : jobs) {
      auto r = (*probe)->status(j);
      if (!r.ok()) continue;
      if (r->state == sc::JobState::kSucceeded) ++n_started;
      if (r->state != sc::JobState::kRunning) continue;
      ++n_started;
      if (r->worker == w1) on_w1.insert(j);
    }
    return n_started == jobs.size() && !on_w1.empty();
  })) << "the first jobs did not all start, or none ran on w1";

  ASSERT_EQ(::kill(pool.worker_process(0).pid(), SIGTERM), 0);
  // The broker hears at once that w1 takes no new jobs (it is still there, draining).
  bool draining = Pool::poll_until(30000, [&] {
    auto d = device_of(pool, w1);
    return d && d->models.empty();
  });
  ASSERT_TRUE(draining) << "w1 never listed no models while its jobs ran";
  std::printf("SIGTERM with %zu job(s) running on w1\n", on_w1.size());

  for (int n = kFirstJobs; n < kFirstJobs + kLaterJobs; ++n) jobs.push_back(submit(**c, n));
  std::map<std::string, FinishedJob> finished;
  for (const std::string& j : jobs) finished[j] = wait_job(**c, j, 120000);

  for (size_t i = 0; i < jobs.size(); ++i) {
    const std::string& j = jobs[i];
    const FinishedJob& f = finished[j];
    ASSERT_TRUE(f.status.ok()) << j << ": " << f.status.to_string();
    EXPECT_EQ(f.record.state, sc::JobState::kSucceeded) << j << ": " << f.record.error;
    EXPECT_EQ(f.record.attempt, 1u) << j << " ran again";
    if (on_w1.count(j) != 0) {
      EXPECT_EQ(f.record.worker, w1) << j << " left its draining worker";
    }
    if (i >= static_cast<size_t>(kFirstJobs)) {
      EXPECT_EQ(f.record.worker, w2) << j << " was sent to the draining worker";
    }
    for (size_t k = 0; k < f.tokens.size(); ++k) ASSERT_EQ(f.tokens[k].seq, k) << j;
    auto stored = pool.job_store().load(j);
    ASSERT_TRUE(stored.ok()) << stored.status().to_string();
    EXPECT_EQ(stored->state, f.record.state) << j;
    EXPECT_EQ(stored->attempt, f.record.attempt) << j;
    EXPECT_EQ(stored->worker, f.record.worker) << j;
  }

  ASSERT_TRUE(pool.worker_process(0).wait_exit(60000)) << "w1 did not exit after draining";
  EXPECT_EQ(pool.worker_process(0).exit_code(), 0);
  EXPECT_TRUE(pool.wait_devices(1, 10000)) << "the broker still lists w1 after its goodbye";
  const std::string log = file_tail(pool.dir().file("worker-" + w1 + ".log"), 1000);
  EXPECT_EQ(log.find("refused"), std::string::npos) << "a DISPATCH reached the draining w1:\n"
                                                    << log;
}

}  // namespace
}  // namespace rs::test
