#include "rs/broker/job_table.h"

#include <gtest/gtest.h>

namespace job_table_test {
namespace {

using rs::broker::DeviceKey;
using rs::broker::JobSubmit;
using rs::broker::JobTable;
using rs::broker::ModelTarget;

JobSubmit spec(const std::string& id) {
  return JobSubmit{.id = id, .model = "tiny"};
}

TEST(JobTable, FirstAttemptIsOneAndCurrentOnceDispatched) {
  JobTable t(3);
  ASSERT_NE(t.add(spec("j"), ModelTarget{.name = "tiny"}), nullptr);
  EXPECT_EQ(t.add(spec("j"), ModelTarget{}), nullptr);  // already live
  EXPECT_EQ(t.find("j")->attempt, 1u);
  EXPECT_EQ(t.find("j")->target.name, "tiny");
  EXPECT_FALSE(t.is_current("j", 1));  // queued, not dispatched
  EXPECT_TRUE(t.set_dispatched("j", {"w", 0}));
  EXPECT_TRUE(t.is_current("j", 1));
  EXPECT_TRUE(t.is_current("j", 1, DeviceKey{"w", 0}));
  EXPECT_FALSE(t.is_current("j", 1, DeviceKey{"w", 1}));
  EXPECT_FALSE(t.is_current("j", 2));
  EXPECT_FALSE(t.is_current("other", 1));
}

TEST(JobTable, NextAttemptFencesTheOldOneAndForgetsItsDevice) {
  JobTable t(3);
  t.add(spec("j"), ModelTarget{});
  t.set_dispatched("j", {"w1", 0});
  t.find("j")->dispatched_key = "tiny@1";
  EXPECT_EQ(*t.next_attempt("j"), 2u);
  EXPECT_TRUE(t.find("j")->dispatched_key.empty());
  EXPECT_FALSE(t.is_current("j", 1, DeviceKey{"w1", 0}));  // the lost worker speaks late
  EXPECT_FALSE(t.is_current("j", 2));                      // requeued, not yet dispatched
  t.set_dispatched("j", {"w2", 0});
  EXPECT_TRUE(t.is_current("j", 2, DeviceKey{"w2", 0}));
  EXPECT_FALSE(t.is_current("j", 1, DeviceKey{"w2", 0}));
}

TEST(JobTable, MaxAttemptsEndsTheJobAndHandedBackAttemptsDoNotCount) {
  JobTable t(2);
  t.add(spec("j"), ModelTarget{});
  EXPECT_EQ(*t.next_attempt("j", /*counted=*/false), 2u);  // handed back
  EXPECT_EQ(*t.next_attempt("j"), 3u);
  EXPECT_FALSE(t.next_attempt("j").has_value());
  EXPECT_TRUE(t.end("j"));
  EXPECT_FALSE(t.end("j"));
  EXPECT_EQ(t.find("j"), nullptr);
  EXPECT_FALSE(t.next_attempt("j").has_value());
}

TEST(JobTable, RecoveredJobsWaitOnTheirDeviceUntilAdoptedOrTaken) {
  JobTable t;
  for (const char* id : {"a", "b", "c", "d"}) t.add(spec(id), ModelTarget{}, 2);
  EXPECT_EQ(t.find("a")->attempt, 2u);  // restored at its stored attempt
  t.set_recovering(*t.find("c"), {"w", 1});
  t.set_recovering(*t.find("a"), {"w", 0});
  t.set_recovering(*t.find("b"), {"v", 0});
  t.set_recovering(*t.find("d"), {"v", 1});
  EXPECT_EQ(t.recovering(), 4u);
  EXPECT_FALSE(t.is_current("a", 2));  // not dispatched until adopted
  t.set_dispatched("a", {"w", 0});     // adopted
  t.end("b");
  EXPECT_EQ(t.recovering(), 2u);
  auto held = t.take_recovering();  // the rest, oldest first
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].job, "c");
  EXPECT_EQ(held[0].device, (DeviceKey{"w", 1}));
  EXPECT_EQ(held[1].job, "d");
  EXPECT_EQ(t.recovering(), 0u);
  EXPECT_FALSE(t.find("c")->recovering_on.has_value());
  EXPECT_TRUE(t.is_current("a", 2, DeviceKey{"w", 0}));
}

TEST(JobTable, SequenceFollowsSubmission) {
  JobTable t;
  t.add(spec("x"), ModelTarget{});
  t.add(spec("y"), ModelTarget{});
  EXPECT_LT(t.find("x")->seq, t.find("y")->seq);
  EXPECT_EQ(t.size(), 2u);
}

}  // namespace
}  // namespace job_table_test
