// DeviceHost with several engines keyed by model key: two synthetic models with different
// seeds on one device, jobs routed by key, retire while a job runs (it finishes on its
// engine, then the engine and its share of the model go), swap under one key, and a job for
// a key with no engine. Waits are bounded polls.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../model/synth_model.h"
#include "host_harness.h"
#include "rs/worker/device_host.h"

namespace rs::worker {
namespace {

using engine::FinishReason;
using engine::GenerationRequest;
using std::chrono::milliseconds;

bool models_wait_until(const std::function<bool()>& done, long timeout_ms = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

engine::test::SynthModel synth(uint32_t seed) {
  engine::test::SynthSpec spec;
  spec.dim = 32;
  spec.n_layers = 2;
  spec.ctx = 256;
  spec.seed = seed;
  auto m = engine::test::load_synth(spec);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? std::move(m).value() : engine::test::SynthModel{};
}

GenerationRequest models_request(const std::string& prompt, int max_tokens) {
  GenerationRequest r;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0.8f;
  r.sampling.top_k = 40;
  r.sampling.seed = 11;
  return r;
}

engine::EngineConfig models_engine_config() {
  engine::EngineConfig c;
  c.n_threads = 1;
  c.max_batch_size = 8;
  return c;
}

std::vector<int32_t> models_direct_run(const std::shared_ptr<const engine::Model>& model, const GenerationRequest& r) {
  auto eng = engine::Engine::create(model, models_engine_config());
  EXPECT_TRUE(eng.ok());
  EXPECT_TRUE((*eng)->submit(r).ok());
  std::vector<int32_t> tokens;
  for (int i = 0; i < 10000 && (*eng)->has_work(); ++i) {
    for (const auto& t : (*eng)->step().tokens) tokens.push_back(t.token);
  }
  return tokens;
}

class DeviceModelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = synth(1);
    b_ = synth(2);
    ASSERT_NE(a_.model, nullptr);
    ASSERT_NE(b_.model, nullptr);
    DeviceHostConfig c;
    c.engine = models_engine_config();
    c.beat_interval_ms = 5;
    c.before_step = gate_.hook();
    auto h = DeviceHost::start(c);
    ASSERT_TRUE(h.ok()) << h.status().to_string();
    host_ = std::move(h).value();
  }
  void TearDown() override {
    gate_.release();
    host_.reset();
  }

  bool collect_until(const std::function<bool()>& done) { return out_.collect_until(*host_, done); }
  bool finished(const std::string& id) { return out_.finished(id); }
  void hold_steps() { gate_.hold(); }
  void release_steps() { gate_.release(); }
  bool wait_blocked() { return gate_.wait_blocked(); }
  int n_finished() const { return out_.n_finished(); }

  engine::test::SynthModel a_, b_;
  test::StepGate gate_;  // before host_: its engine thread runs the gate's hook
  std::unique_ptr<DeviceHost> host_;
  test::HostOutputs out_;
  std::map<std::string, test::HostJob>& jobs_ = out_.jobs;
};

TEST_F(DeviceModelsTest, JobsRunOnTheEngineOfTheirKey) {
  ASSERT_TRUE(host_->add_model("tiny@1", a_.model).ok());
  ASSERT_TRUE(host_->add_model("tiny@2", b_.model).ok());
  const GenerationRequest r = models_request("Once upon a time", 12);
  host_->submit("on-a", 1, r, "tiny@1");
  host_->submit("on-b", 1, r, "tiny@2");
  host_->submit("default", 1, r);  // no key: the engine added last
  ASSERT_TRUE(collect_until([&] { return n_finished() == 3; }));
  const std::vector<int32_t> want_a = models_direct_run(a_.model, r);
  const std::vector<int32_t> want_b = models_direct_run(b_.model, r);
  ASSERT_NE(want_a, want_b) << "the two seeds must give different tokens";
  EXPECT_EQ(jobs_["on-a"].tokens, want_a);
  EXPECT_EQ(jobs_["on-b"].tokens, want_b);
  EXPECT_EQ(jobs_["default"].tokens, want_b);
  EXPECT_TRUE(models_wait_until([&] { return host_->slots().size() == 2; }));
  EXPECT_EQ(host_->load().n_engines, 2);
  std::vector<std::string> keys;
  for (const SlotInfo& s : host_->slots()) {
    EXPECT_TRUE(s.accepting);
    keys.push_back(s.key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"tiny@1", "tiny@2"}));
}

TEST_F(DeviceModelsTest, JobForAKeyWithNoEngineEndsModelUnavailable) {
  host_->submit("none-yet", 1, models_request("Hi", 3), "tiny@1");
  ASSERT_TRUE(host_->add_model("tiny@1", a_.model).ok());
  host_->submit("other", 1, models_request("Hi", 3), "tiny@9");
  host_->submit("fine", 1, models_request("Hi", 3), "tiny@1");
  ASSERT_TRUE(collect_until([&] { return n_finished() == 3; }));
  for (const char* id : {"none-yet", "other"}) {
    EXPECT_EQ(jobs_[id].finish.reason, FinishReason::kError) << id;
    EXPECT_EQ(jobs_[id].finish.error_code, StatusCode::kNotFound) << jobs_[id].finish.error;
  }
  EXPECT_EQ(jobs_["fine"].finish.reason, FinishReason::kLength);
  EXPECT_FALSE(host_->add_model("x", nullptr).ok());
}

TEST_F(DeviceModelsTest, RetireLetsTheRunningJobFinishThenDropsTheEngine) {
  const long base_uses = a_.model.use_count();
  ASSERT_TRUE(host_->add_model("tiny@1", a_.model).ok());
  ASSERT_TRUE(host_->add_model("tiny@2", b_.model).ok());
  EXPECT_GT(a_.model.use_count(), base_uses);
  const GenerationRequest r = models_request("Lily and Tom went to the park.", 40);
  hold_steps();  // the engine admits the job, then waits before its first step
  host_->submit("long-a", 1, r, "tiny@1");
  ASSERT_TRUE(wait_blocked());
  const uint64_t mark_posted = host_->n_posted() + 1;
  host_->retire_model("tiny@1");
  host_->submit("late-a", 1, models_request("Hi", 3), "tiny@1");
  host_->submit("on-b", 1, models_request("Hi", 3), "tiny@2");
  release_steps();
  ASSERT_TRUE(collect_until([&] { return n_finished() == 3; }));
  EXPECT_EQ(jobs_["long-a"].finish.reason, FinishReason::kLength);
  EXPECT_EQ(jobs_["long-a"].tokens, models_direct_run(a_.model, r)) << "finished on A's engine";
  EXPECT_EQ(jobs_["late-a"].finish.reason, FinishReason::kError);
  EXPECT_EQ(jobs_["late-a"].finish.error_code, StatusCode::kNotFound);
  EXPECT_EQ(jobs_["on-b"].finish.reason, FinishReason::kLength);
  EXPECT_TRUE(models_wait_until([&] { return host_->n_applied() >= mark_posted && !host_->holds("tiny@1"); }));
  EXPECT_TRUE(models_wait_until([&] { return a_.model.use_count() == base_uses; }))
      << "the retired engine released its share of the model: " << a_.model.use_count();
  EXPECT_TRUE(host_->holds("tiny@2"));
  EXPECT_EQ(host_->load().n_engines, 1);
}

TEST_F(DeviceModelsTest, AddUnderTheSameKeySwapsAndTheOldEngineDrains) {
  const long base_uses = a_.model.use_count();
  DeviceHostConfig c;
  c.engine = models_engine_config();
  c.model_key = "tiny";
  auto h = DeviceHost::start(a_.model, c);  // the file-mode constructor
  ASSERT_TRUE(h.ok());
  host_ = std::move(h).value();
  const GenerationRequest r = models_request("The cat sat", 30);
  host_->submit("old", 1, r, "tiny");
  ASSERT_TRUE(collect_until([&] { return !jobs_["old"].tokens.empty(); }));
  ASSERT_TRUE(host_->swap_model(b_.model).ok());  // same key "tiny"
  host_->submit("new", 1, r, "tiny");
  ASSERT_TRUE(collect_until([&] { return n_finished() == 2; }));
  EXPECT_EQ(jobs_["old"].tokens, models_direct_run(a_.model, r));
  EXPECT_EQ(jobs_["new"].tokens, models_direct_run(b_.model, r));
  EXPECT_TRUE(models_wait_until([&] { return host_->load().n_engines == 1; }));
  EXPECT_TRUE(models_wait_until([&] { return a_.model.use_count() == base_uses; }));
  ASSERT_EQ(host_->slots().size(), 1u);
  EXPECT_EQ(host_->slots()[0].key, "tiny");
}

}  // namespace
}  // namespace rs::worker
