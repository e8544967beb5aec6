// Acceptance (issue 14): peers that go away, with real processes. A `ringserve submit
// --stream` killed with -9 mid-stream: its job ends CANCELLED with fewer tokens than
// max_tokens and the device's KV blocks return to their idle count. A worker drained by
// SIGTERM with a short grace hands its long jobs back: they resume on the other worker from
// their logs (contiguous seqs, no attempt used up) and end SUCCEEDED.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "process_harness.h"
#include "ringserve_run.h"
#include "streaming_client.h"

namespace rs::test::peer_lifecycle {
namespace {

namespace sc = rs::schemas;

uint32_t free_kv_blocks(Pool& pool) {
  uint32_t n = 0;
  for (const auto& d : pool.devices()) n += d.kv_blocks_free;
  return n;
}

TEST(PeerLifecycleTest, ASubmitterKilledMidStreamHasItsJobCancelledAndTheKvCacheFreed) {
  PoolOptions o;
  o.workers = 1;
  o.devices = 1;
  o.heartbeat_ms = 200;  // the KV figures come with heartbeats
  o.worker_args = {"--step-delay-ms", "20"};
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  uint32_t idle = 0;
  ASSERT_TRUE(Pool::poll_until(10000, [&] { return (idle = free_kv_blocks(pool)) > 0; }));

  constexpr int kMaxTokens = 2000;
  RingserveRun submitter(
      pool.dir().path(),
      {"submit", "--broker", pool.client_endpoint(), "--stream", "--json", "--max-tokens",
       std::to_string(kMaxTokens), "--ignore-eos", "a story that never ends"},
      "submitter");
  std::string job;
  ASSERT_TRUE(Pool::poll_until(30000, [&] {
    std::istringstream out(submitter.out());
    size_t n = 0;
    for (std::string line; std::getline(out, line); ++n) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("job")) job = j["job"].get<std::string>();
    }
    return !job.empty() && n > 5;  // its tokens flow
  })) << submitter.err();
  ASSERT_EQ(::kill(submitter.pid(), SIGKILL), 0);
  submitter.wait_exit(10000);

  sc::JobRecord record;
  ASSERT_TRUE(Pool::poll_until(30000, [&] {
    auto r = pool.job_store().load(job);
    if (r.ok()) record = *r;
    return r.ok() && sc::is_terminal(r->state);
  })) << "the job of a killed submitter did not end";
  EXPECT_EQ(record.state, sc::JobState::kCancelled);
  EXPECT_LT(record.usage.completion_tokens, static_cast<uint32_t>(kMaxTokens));
  EXPECT_TRUE(Pool::poll_until(10000, [&] { return free_kv_blocks(pool) == idle; }))
      << "KV blocks free " << free_kv_blocks(pool) << ", idle " << idle;
}

TEST(PeerLifecycleTest, ADrainedWorkersLongJobsResumeElsewhereWithoutUsingAnAttempt) {
  PoolOptions o;
  o.workers = 2;
  o.devices = 1;
  o.heartbeat_ms = 200;
  o.broker_args = {"--max-attempts", "1"};  // a hand-back must not count as a failure
  o.worker_args = {"--step-delay-ms", "20", "--grace-ms", "300"};
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  zmq::context_t ctx(1);
  StreamingClient client(ctx, pool.client_endpoint());
  constexpr size_t kJobs = 8;
  for (size_t j = 0; j < kJobs; ++j) {
    sc::SubmitRequest r =
        make_request(pool.model_name(), "drain " + std::to_string(j), 200, 0.8f, 7 + j);
    r.ignore_eos = true;
    r.session_id = "d" + std::to_string(j);
    std::string id;
    ASSERT_TRUE(client.submit(r, &id));
  }
  ASSERT_TRUE(Pool::poll_until(30000, [&] {
    while (client.read_one(1)) {
    }
    return client.jobs_with_tokens() == kJobs;
  }));
  ASSERT_EQ(::kill(pool.worker_process(0).pid(), SIGTERM), 0);
  ASSERT_TRUE(Pool::poll_until(120000, [&] {
    while (client.read_one(1)) {
    }
    return client.all_done();
  })) << "jobs did not finish after the drain";
  EXPECT_TRUE(pool.worker_process(0).wait_exit(30000)) << "the drained worker did not exit";
  size_t resumed = 0;
  for (auto& [job, s] : client.streams()) {
    ASSERT_TRUE(s.done.has_value());
    EXPECT_EQ(s.done->state, sc::JobState::kSucceeded) << job << ": " << s.done->error;
    ASSERT_EQ(s.seqs.size(), 200u) << job;
    for (size_t i = 0; i < s.seqs.size(); ++i) ASSERT_EQ(s.seqs[i], i) << job;
    if (s.done->attempt > 1) ++resumed;
  }
  EXPECT_GT(resumed, 0u) << "no job was handed back by the drained worker";
}

}  // namespace
}  // namespace rs::test::peer_lifecycle
