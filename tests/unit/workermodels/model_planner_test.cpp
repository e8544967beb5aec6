// ModelPlanner without threads, sockets or Redis: a normal swap, the memory-constrained
// order (retire, drain, release, then load), a failed load keeps the old version (and is
// retried only after it is activated again), a canary (two keys of one name), a version too
// big for --max-model-bytes, a name that disappears, a retired key wanted again.
#include "rs/worker/models/model_planner.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace rs::worker::models {
namespace {

using Actions = std::vector<PlanAction>;

PlanAction act(PlanOp op, const std::string& key) { return PlanAction{op, key, {}}; }

std::map<std::string, WantedModel> wanted(std::initializer_list<std::string> keys, uint64_t size = 100) {
  std::map<std::string, WantedModel> out;
  for (const std::string& k : keys) out[k] = WantedModel{k.substr(0, k.find('@')), size};
  return out;
}

// Brings `key` from wanted to serving through verify, load and install.
void bring_in(ModelPlanner& p, const std::string& key) {
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kVerify, key)});
  p.on_verified(key);
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kLoad, key)});
  p.on_loaded(key);
}

TEST(ModelPlannerTest, StartupLoadsTheWantedVersionThenSettles) {
  ModelPlanner p;
  EXPECT_FALSE(p.settled()) << "nothing read from the registry yet";
  p.set_wanted(wanted({"tiny@1"}));
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kVerify, "tiny@1")});
  EXPECT_FALSE(p.settled());
  p.on_verified("tiny@1");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kLoad, "tiny@1")});
  EXPECT_FALSE(p.settled());
  p.on_loaded("tiny@1");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kInstall, "tiny@1")});
  EXPECT_TRUE(p.settled());
  EXPECT_EQ(p.serving(), std::vector<std::string>{"tiny@1"});
  EXPECT_EQ(p.plan(), Actions{});
}

TEST(ModelPlannerTest, EmptyRegistrySettlesWithNothing) {
  ModelPlanner p;
  p.set_wanted({});
  EXPECT_EQ(p.plan(), Actions{});
  EXPECT_TRUE(p.settled());
  EXPECT_TRUE(p.serving().empty());
}

TEST(ModelPlannerTest, NormalSwapServesTheOldUntilTheNewIsInstalled) {
  ModelPlanner p;
  p.set_wanted(wanted({"tiny@1"}));
  bring_in(p, "tiny@1");
  p.plan();
  p.set_wanted(wanted({"tiny@2"}));
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kVerify, "tiny@2")});
  EXPECT_EQ(p.serving(), std::vector<std::string>{"tiny@1"}) << "old serves while the new loads";
  p.on_verified("tiny@2");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kLoad, "tiny@2")});
  EXPECT_EQ(p.held_bytes(), 200u) << "both fit: no limit";
  p.on_loaded("tiny@2");
  EXPECT_EQ(p.plan(), (Actions{act(PlanOp::kInstall, "tiny@2"), act(PlanOp::kRetire, "tiny@1")}));
  EXPECT_EQ(p.serving(), std::vector<std::string>{"tiny@2"});
  EXPECT_EQ(p.draining(), std::vector<std::string>{"tiny@1"});
  EXPECT_EQ(p.plan(), Actions{}) << "waits for the drain";
  p.on_drained("tiny@1");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kRelease, "tiny@1")});
  EXPECT_EQ(p.state("tiny@1"), KeyState::kAbsent);
  EXPECT_EQ(p.held_bytes(), 100u);
}

TEST(ModelPlannerTest, MemoryConstrainedSwapDrainsAndReleasesBeforeLoading) {
  ModelPlanner p(150);  // one version of 100 bytes fits, two do not
  p.set_wanted(wanted({"tiny@1"}));
  bring_in(p, "tiny@1");
  p.plan();
  p.set_wanted(wanted({"tiny@2"}));
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kVerify, "tiny@2")});
  EXPECT_EQ(p.serving(), std::vector<std::string>{"tiny@1"}) << "verifying needs no memory";
  p.on_verified("tiny@2");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kRetire, "tiny@1")}) << "stop advertising the old first";
  EXPECT_TRUE(p.serving().empty());
  EXPECT_TRUE(p.settled()) << "a key waiting for memory does not hold READY back";
  EXPECT_EQ(p.plan(), Actions{}) << "no load while the old weights are held";
  p.on_drained("tiny@1");
  EXPECT_EQ(p.plan(), (Actions{act(PlanOp::kRelease, "tiny@1"), act(PlanOp::kLoad, "tiny@2")}));
  EXPECT_EQ(p.held_bytes(), 100u);
  p.on_loaded("tiny@2");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kInstall, "tiny@2")});
  EXPECT_EQ(p.serving(), std::vector<std::string>{"tiny@2"});
}

TEST(ModelPlannerTest, MemoryConstrainedSwapLeavesOtherNamesServing) {
  ModelPlanner p(250);
  auto w = wanted({"tiny@1", "big@1"});
  p.set_wanted(w);
  EXPECT_EQ(p.plan(), (Actions{act(PlanOp::kVerify, "big@1"), act(PlanOp::kVerify, "tiny@1")}));
  p.on_verified("big@1");
  p.on_verified("tiny@1");
  EXPECT_EQ(p.plan(), (Actions{act(PlanOp::kLoad, "big@1"), act(PlanOp::kLoad, "tiny@1")}));
  p.on_loaded("big@1");
  p.on_loaded("tiny@1");
  p.plan();
  p.set_wanted(wanted({"tiny@2", "big@1"}));
  p.plan();
  p.on_verified("tiny@2");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kRetire, "tiny@1")});
  EXPECT_EQ(p.serving(), std::vector<std::string>{"big@1"});
}

TEST(ModelPlannerTest, FailedVerifyOrLoadKeepsTheOldServingUntilActivatedAgain) {
  ModelPlanner p;
  p.set_wanted(wanted({"tiny@1"}));
  bring_in(p, "tiny@1");
  p.plan();
  p.set_wanted(wanted({"tiny@3"}));
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kVerify, "tiny@3")});
  p.on_failed("tiny@3");  // checksum mismatch
  EXPECT_EQ(p.plan(), Actions{});
  EXPECT_EQ(p.state("tiny@3"), KeyState::kFailed);
  EXPECT_EQ(p.serving(), std::vector<std::string>{"tiny@1"});
  EXPECT_TRUE(p.settled());
  p.set_wanted(wanted({"tiny@3"}));  // the set_error bumped the epoch: same wanted set
  EXPECT_EQ(p.plan(), Actions{}) << "a failed key is not retried";
  p.set_wanted(wanted({"tiny@1"}));  // rolled back
  EXPECT_EQ(p.plan(), Actions{});
  p.set_wanted(wanted({"tiny@3"}));  // activated again: retried
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kVerify, "tiny@3")});
  p.on_verified("tiny@3");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kLoad, "tiny@3")});
  p.on_failed("tiny@3");  // GGUF invalid
  EXPECT_EQ(p.plan(), Actions{});
  EXPECT_EQ(p.serving(), std::vector<std::string>{"tiny@1"});
  EXPECT_EQ(p.held_bytes(), 100u);
}

TEST(ModelPlannerTest, CanaryServesTwoKeysAndWithdrawingItRetiresIt) {
  ModelPlanner p;
  p.set_wanted(wanted({"tiny@1"}));
  bring_in(p, "tiny@1");
  p.plan();
  p.set_wanted(wanted({"tiny@1", "tiny@2"}));
  bring_in(p, "tiny@2");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kInstall, "tiny@2")});
  EXPECT_EQ(p.serving(), (std::vector<std::string>{"tiny@1", "tiny@2"}));
  p.set_wanted(wanted({"tiny@1"}));  // rollback withdraws the canary
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kRetire, "tiny@2")});
  EXPECT_EQ(p.serving(), std::vector<std::string>{"tiny@1"});
}

TEST(ModelPlannerTest, VersionBiggerThanTheLimitFails) {
  ModelPlanner p(50);
  p.set_wanted(wanted({"tiny@1"}));
  p.plan();
  p.on_verified("tiny@1");
  Actions a = p.plan();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].op, PlanOp::kFail);
  EXPECT_NE(a[0].reason.find("--max-model-bytes"), std::string::npos) << a[0].reason;
  EXPECT_EQ(p.state("tiny@1"), KeyState::kFailed);
  EXPECT_TRUE(p.settled());
}

TEST(ModelPlannerTest, NameWithNoWantedVersionIsRetired) {
  ModelPlanner p;
  p.set_wanted(wanted({"tiny@1"}));
  bring_in(p, "tiny@1");
  p.plan();
  p.set_wanted({});
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kRetire, "tiny@1")});
}

TEST(ModelPlannerTest, RetiredKeyWantedAgainIsInstalledAgainWithoutReload) {
  ModelPlanner p;
  p.set_wanted(wanted({"tiny@1"}));
  bring_in(p, "tiny@1");
  p.plan();
  p.set_wanted(wanted({"tiny@2"}));
  bring_in(p, "tiny@2");
  EXPECT_EQ(p.plan(), (Actions{act(PlanOp::kInstall, "tiny@2"), act(PlanOp::kRetire, "tiny@1")}));
  p.set_wanted(wanted({"tiny@1"}));  // rolled back while tiny@1 still drains
  EXPECT_EQ(p.plan(), (Actions{act(PlanOp::kInstall, "tiny@1"), act(PlanOp::kRetire, "tiny@2")}));
  EXPECT_EQ(p.serving(), std::vector<std::string>{"tiny@1"});
}

TEST(ModelPlannerTest, LoadFinishingAfterTheKeyWasWithdrawnIsReleased) {
  ModelPlanner p;
  p.set_wanted(wanted({"tiny@1"}));
  p.plan();
  p.on_verified("tiny@1");
  p.plan();
  p.set_wanted({});
  p.on_loaded("tiny@1");
  EXPECT_EQ(p.plan(), Actions{act(PlanOp::kRelease, "tiny@1")});
  EXPECT_EQ(p.held_bytes(), 0u);
}

}  // namespace
}  // namespace rs::worker::models
