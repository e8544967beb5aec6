#include "rs/broker/job_attempts.h"

#include <gtest/gtest.h>

namespace {

using rs::broker::DeviceKey;
using rs::broker::JobAttempts;

TEST(JobAttempts, FirstAttemptIsOneAndCurrentOnceDispatched) {
  JobAttempts a(3);
  EXPECT_TRUE(a.begin("j"));
  EXPECT_FALSE(a.begin("j"));
  EXPECT_EQ(a.find("j")->attempt, 1u);
  EXPECT_FALSE(a.is_current("j", 1));  // queued, not dispatched
  EXPECT_TRUE(a.set_dispatched("j", {"w", 0}));
  EXPECT_TRUE(a.is_current("j", 1));
  EXPECT_TRUE(a.is_current("j", 1, DeviceKey{"w", 0}));
  EXPECT_FALSE(a.is_current("j", 1, DeviceKey{"w", 1}));
  EXPECT_FALSE(a.is_current("j", 2));
  EXPECT_FALSE(a.is_current("other", 1));
}

TEST(JobAttempts, NextAttemptFencesTheOldOne) {
  JobAttempts a(3);
  a.begin("j");
  a.set_dispatched("j", {"w1", 0});
  EXPECT_EQ(*a.next_attempt("j"), 2u);
  EXPECT_FALSE(a.is_current("j", 1, DeviceKey{"w1", 0}));  // the lost worker speaks late
  EXPECT_FALSE(a.is_current("j", 2));                       // requeued, not yet dispatched
  a.set_dispatched("j", {"w2", 0});
  EXPECT_TRUE(a.is_current("j", 2, DeviceKey{"w2", 0}));
  EXPECT_FALSE(a.is_current("j", 1, DeviceKey{"w2", 0}));
}

TEST(JobAttempts, MaxAttemptsEndsTheJob) {
  JobAttempts a(2);
  a.begin("j");
  EXPECT_EQ(*a.next_attempt("j"), 2u);
  EXPECT_FALSE(a.next_attempt("j").has_value());
  EXPECT_TRUE(a.end("j"));
  EXPECT_FALSE(a.end("j"));
  EXPECT_EQ(a.find("j"), nullptr);
  EXPECT_FALSE(a.next_attempt("j").has_value());
}

TEST(JobAttempts, SequenceFollowsSubmission) {
  JobAttempts a;
  a.begin("x");
  a.begin("y");
  EXPECT_LT(a.find("x")->seq, a.find("y")->seq);
  EXPECT_EQ(a.size(), 2u);
}

}  // namespace
