#include "rs/broker/job_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rs/core/clock.h"

namespace {

using rs::broker::JobQueue;
using rs::broker::JobQueueOptions;
using rs::broker::Priority;
using rs::broker::PushResult;
using rs::broker::QueuedJob;

QueuedJob job(const std::string& id, const std::string& model = "m",
              Priority p = Priority::kInteractive) {
  QueuedJob j;
  j.id = id;
  j.model = model;
  j.priority = p;
  return j;
}

TEST(JobQueue, FifoWithinAPriority) {
  rs::ManualClock clock;
  JobQueue q(clock);
  EXPECT_EQ(q.push(job("a")), PushResult::kQueued);
  EXPECT_EQ(q.push(job("b")), PushResult::kQueued);
  EXPECT_EQ(q.push(job("c")), PushResult::kQueued);
  EXPECT_EQ(q.pop("m")->id, "a");
  EXPECT_EQ(q.pop("m")->id, "b");
  EXPECT_EQ(q.pop("m")->id, "c");
  EXPECT_FALSE(q.pop("m").has_value());
  EXPECT_TRUE(q.empty());
}

TEST(JobQueue, InteractiveBeforeBatch) {
  rs::ManualClock clock;
  JobQueue q(clock);
  q.push(job("b1", "m", Priority::kBatch));
  q.push(job("i1"));
  q.push(job("b2", "m", Priority::kBatch));
  q.push(job("i2"));
  EXPECT_EQ(q.peek("m")->id, "i1");
  EXPECT_EQ(q.pop("m")->id, "i1");
  EXPECT_EQ(q.pop("m")->id, "i2");
  EXPECT_EQ(q.pop("m")->id, "b1");
  EXPECT_EQ(q.pop("m")->id, "b2");
}

TEST(JobQueue, ModelsAreSeparate) {
  rs::ManualClock clock;
  JobQueue q(clock);
  q.push(job("a", "m1"));
  q.push(job("b", "m2"));
  EXPECT_EQ(q.size("m1"), 1u);
  EXPECT_EQ(q.size("m2"), 1u);
  EXPECT_EQ(q.models(), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(q.pop("m2")->id, "b");
  EXPECT_EQ(q.peek("m2"), nullptr);
  EXPECT_EQ(q.models(), (std::vector<std::string>{"m1"}));
}

TEST(JobQueue, BoundedPushFailsAtOnce) {
  rs::ManualClock clock;
  JobQueue q(clock, JobQueueOptions{.max_queued = 2});
  EXPECT_EQ(q.push(job("a", "m1")), PushResult::kQueued);
  EXPECT_EQ(q.push(job("b", "m2")), PushResult::kQueued);
  EXPECT_EQ(q.push(job("c", "m1")), PushResult::kQueueFull);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_FALSE(q.contains("c"));
  q.pop("m1");
  EXPECT_EQ(q.push(job("c", "m1")), PushResult::kQueued);
}

TEST(JobQueue, DuplicateIdRefused) {
  rs::ManualClock clock;
  JobQueue q(clock);
  EXPECT_EQ(q.push(job("a")), PushResult::kQueued);
  EXPECT_EQ(q.push(job("a")), PushResult::kDuplicate);
  EXPECT_EQ(q.push_front(job("a")), PushResult::kDuplicate);
  EXPECT_EQ(q.size(), 1u);
}

TEST(JobQueue, RemoveForCancel) {
  rs::ManualClock clock;
  JobQueue q(clock);
  q.push(job("a"));
  q.push(job("b"));
  q.push(job("c"));
  auto removed = q.remove("b");
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->id, "b");
  EXPECT_FALSE(q.remove("b").has_value());
  EXPECT_FALSE(q.remove("zzz").has_value());
  EXPECT_EQ(q.pop("m")->id, "a");
  EXPECT_EQ(q.pop("m")->id, "c");
}

TEST(JobQueue, RequeueGoesToTheFrontEvenWhenFull) {
  rs::ManualClock clock;
  JobQueue q(clock, JobQueueOptions{.max_queued = 2});
  q.push(job("a"));
  q.push(job("b"));
  QueuedJob again = job("r");
  again.attempt = 2;
  EXPECT_EQ(q.push_front(again), PushResult::kQueued);
  EXPECT_EQ(q.size(), 3u);
  auto head = q.pop("m");
  EXPECT_EQ(head->id, "r");
  EXPECT_EQ(head->attempt, 2u);
  EXPECT_EQ(q.pop("m")->id, "a");
}

TEST(JobQueue, RequeuedBatchStaysBehindInteractive) {
  rs::ManualClock clock;
  JobQueue q(clock);
  q.push(job("i"));
  q.push_front(job("b", "m", Priority::kBatch));
  EXPECT_EQ(q.pop("m")->id, "i");
  EXPECT_EQ(q.pop("m")->id, "b");
}

TEST(JobQueue, ExpiresJobsPastTheirWaitDeadline) {
  rs::ManualClock clock;
  JobQueue q(clock, JobQueueOptions{.max_queued = 100, .wait_timeout_ms = 1000});
  q.push(job("a", "m1"));
  clock.advance_ms(400);
  q.push(job("b", "m2"));
  EXPECT_EQ(*q.next_deadline_ns(), q.peek("m1")->deadline_ns);
  clock.advance_ms(599);
  EXPECT_TRUE(q.take_expired().empty());
  clock.advance_ms(1);  // a's deadline, exactly
  auto expired = q.take_expired();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, "a");
  EXPECT_FALSE(q.contains("a"));
  clock.advance_ms(400);
  expired = q.take_expired();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, "b");
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.next_deadline_ns().has_value());
}

TEST(JobQueue, RemovedJobsNeverExpire) {
  rs::ManualClock clock;
  JobQueue q(clock, JobQueueOptions{.max_queued = 100, .wait_timeout_ms = 10});
  q.push(job("a"));
  q.push(job("b"));
  q.remove("a");
  q.pop("m");
  clock.advance_ms(100);
  EXPECT_TRUE(q.take_expired().empty());
}

TEST(JobQueue, ManyJobsKeepOrderAndCount) {
  rs::ManualClock clock;
  JobQueue q(clock, JobQueueOptions{.max_queued = 5000});
  for (int i = 0; i < 5000; ++i) {
    Priority p = i % 3 == 0 ? Priority::kBatch : Priority::kInteractive;
    ASSERT_EQ(q.push(job(std::to_string(i), "m", p)), PushResult::kQueued);
  }
  EXPECT_EQ(q.push(job("x")), PushResult::kQueueFull);
  int last_interactive = -1, last_batch = -1;
  bool in_batch = false;
  while (auto j = q.pop("m")) {
    int n = std::stoi(j->id);
    if (j->priority == Priority::kBatch) {
      in_batch = true;
      EXPECT_GT(n, last_batch);
      last_batch = n;
    } else {
      EXPECT_FALSE(in_batch);
      EXPECT_GT(n, last_interactive);
      last_interactive = n;
    }
  }
  EXPECT_TRUE(q.empty());
}

TEST(JobQueue, ModelWaitArmsDisarmsAndExpires) {
  rs::ManualClock clock;
  JobQueue q(clock, JobQueueOptions{.max_queued = 10, .wait_timeout_ms = 10000, .model_wait_ms = 1000});
  q.push(job("a", "tiny@2"));
  q.push(job("other", "m"));
  clock.advance_ms(500);
  q.arm_model_wait("tiny@2");  // a waits 1000 ms from now, not from its push
  EXPECT_TRUE(q.model_wait_armed("tiny@2"));
  EXPECT_EQ(*q.next_deadline_ns(), clock.now_ns() + 1'000'000'000);
  clock.advance_ms(200);
  q.push(job("b", "tiny@2"));  // pushed while armed: 1000 ms from its push
  clock.advance_ms(799);
  EXPECT_TRUE(q.take_model_wait_expired().empty());
  clock.advance_ms(1);
  auto expired = q.take_model_wait_expired();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, "a");
  q.disarm_model_wait("tiny@2");
  clock.advance_ms(5000);
  EXPECT_TRUE(q.take_model_wait_expired().empty());  // b: only its queue deadline now
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.ids("tiny@2", 10), (std::vector<std::string>{"b"}));
  clock.advance_ms(5000);
  EXPECT_EQ(q.take_expired().size(), 2u);  // b and other, at their 10 s queue deadlines
}

TEST(JobQueue, IdsInDispatchOrder) {
  rs::ManualClock clock;
  JobQueue q(clock);
  q.push(job("b1", "m", Priority::kBatch));
  q.push(job("i1"));
  q.push(job("i2"));
  q.push_front(job("r", "m", Priority::kBatch));
  EXPECT_EQ(q.ids("m", 10), (std::vector<std::string>{"i1", "i2", "r", "b1"}));
  EXPECT_EQ(q.ids("m", 2), (std::vector<std::string>{"i1", "i2"}));
  EXPECT_TRUE(q.ids("none", 10).empty());
}

}  // namespace
