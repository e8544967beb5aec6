// Acceptance (issue 3): a late SUBSCRIBE from sequence 0 and one from the middle both
// receive exactly the remaining tokens, in order: while the job runs (replay from Redis,
// then live) and after it finished (replay, then DONE). Real processes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "process_harness.h"

namespace rs::test {
namespace {

namespace sc = rs::schemas;

std::vector<int32_t> tail_from(const std::vector<int32_t>& ids, size_t from) {
  return from >= ids.size() ? std::vector<int32_t>{} : std::vector<int32_t>(ids.begin() + static_cast<long>(from), ids.end());
}

// Subscribes a fresh client to `job` from `from_seq` and waits for the DONE.
FinishedJob subscribe_and_wait(Pool& pool, const std::string& job, uint64_t from_seq) {
  FinishedJob failed;
  auto c = pool.connect(10000);
  if (!c.ok()) {
    failed.status = c.status();
    return failed;
  }
  if (Status s = (*c)->subscribe(job, from_seq); !s.ok()) {
    failed.status = s;
    return failed;
  }
  return wait_job(**c, job, 60000);
}

void expect_tail(const FinishedJob& f, const std::vector<int32_t>& all, uint64_t from_seq) {
  ASSERT_TRUE(f.status.ok()) << f.status.to_string();
  EXPECT_EQ(f.record.state, sc::JobState::kSucceeded);
  for (size_t i = 0; i < f.tokens.size(); ++i) {
    ASSERT_EQ(f.tokens[i].seq, from_seq + i) << "subscriber from " << from_seq << ": gap or reorder";
  }
  EXPECT_EQ(f.ids(), tail_from(all, from_seq)) << "subscriber from " << from_seq;
}

class PoolSubscribeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PoolOptions o;
    o.workers = 1;
    o.devices = 1;
    o.heartbeat_ms = 200;
    o.model_file = medium_model();  // a job that is still running when subscribers arrive
    o.worker_args = {"--kv-blocks", "128"};
    pool_ = std::make_unique<Pool>(o);
    RS_REQUIRE_POOL(*pool_);
    ASSERT_TRUE(pool_->start()) << "pool did not start";
  }
  std::unique_ptr<Pool> pool_;
};

TEST_F(PoolSubscribeTest, LateSubscribersWhileRunningGetExactlyTheRest) {
  Pool& pool = *pool_;
  auto submitter = pool.connect(10000);
  ASSERT_TRUE(submitter.ok());
  auto long_prompt = long_greedy_prompt(pool.model_file(), 500);
  ASSERT_TRUE(long_prompt.has_value()) << "no candidate prompt runs 500 tokens without EOS";
  auto a = (*submitter)->submit(make_request(pool.model_name(), long_prompt->first, 500));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  const std::string job = a->job_id;

  // Subscribe once the job has logged some tokens (read from its Redis stream).
  constexpr uint64_t kMiddle = 5;
  bool started = Pool::poll_until(20000, [&] {
    auto r = pool.token_log().read(job, 0, 16);
    return r.ok() && r->entries.size() > kMiddle;
  });
  ASSERT_TRUE(started) << "the job logged no tokens";
  auto state = (*submitter)->status(job);
  ASSERT_TRUE(state.ok());
  std::printf("subscribing while the job is %s\n", std::string(sc::job_state_name(state->state)).c_str());

  auto from_zero = pool.connect(10000);
  auto from_middle = pool.connect(10000);
  ASSERT_TRUE(from_zero.ok() && from_middle.ok());
  ASSERT_TRUE((*from_zero)->subscribe(job, 0).ok());
  ASSERT_TRUE((*from_middle)->subscribe(job, kMiddle).ok());

  FinishedJob all = wait_job(**submitter, job, 60000);
  ASSERT_TRUE(all.status.ok()) << all.status.to_string();
  ASSERT_EQ(all.record.state, sc::JobState::kSucceeded) << all.record.error;
  ASSERT_GT(all.tokens.size(), kMiddle);
  EXPECT_EQ(all.ids(), long_prompt->second);
  for (size_t i = 0; i < all.tokens.size(); ++i) ASSERT_EQ(all.tokens[i].seq, i);
  expect_tail(wait_job(**from_zero, job, 60000), all.ids(), 0);
  expect_tail(wait_job(**from_middle, job, 60000), all.ids(), kMiddle);
}

TEST_F(PoolSubscribeTest, LateSubscribersAfterTheJobFinishedGetTheReplay) {
  Pool& pool = *pool_;
  auto submitter = pool.connect(10000);
  ASSERT_TRUE(submitter.ok());
  auto a = (*submitter)->submit(make_request(pool.model_name(), "a short story", 40, 0.0f, 7));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  FinishedJob all = wait_job(**submitter, a->job_id, 60000);
  ASSERT_TRUE(all.status.ok()) << all.status.to_string();
  ASSERT_EQ(all.record.state, sc::JobState::kSucceeded);
  const uint64_t middle = all.tokens.size() / 2;
  expect_tail(subscribe_and_wait(pool, a->job_id, 0), all.ids(), 0);
  expect_tail(subscribe_and_wait(pool, a->job_id, middle), all.ids(), middle);
  expect_tail(subscribe_and_wait(pool, a->job_id, all.tokens.size()), all.ids(), all.tokens.size());
}

TEST_F(PoolSubscribeTest, SubscribeToAnUnknownJobIsNotFound) {
  auto c = pool_->connect(10000);
  ASSERT_TRUE(c.ok());
  Status s = (*c)->subscribe("no-such-job", 0);
  if (s.ok()) {
    auto r = (*c)->wait("no-such-job", [](const sc::TokenEntry&) {}, 5000);
    ASSERT_FALSE(r.ok());
    s = r.status();
  }
  EXPECT_EQ(sc::wire_error_of(s), sc::ErrorCode::kNotFound) << s.to_string();
}

}  // namespace
}  // namespace rs::test
