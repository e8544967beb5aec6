// DeviceHost fault injection (DeviceHostConfig::fail_on_prompt, the worker's
// --fail-on-prompt): a job whose prompt contains a marker is admitted and then ends with an
// engine error on every attempt, while the other jobs on the device complete exactly as a
// direct engine run; a real cancel of such a job still ends it CANCELLED. Synthetic model;
// waits are bounded polls.
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

bool wait_until(const std::function<bool()>& done, long timeout_ms = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

GenerationRequest request(const std::string& prompt, int max_tokens) {
  GenerationRequest r;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0.8f;
  r.sampling.top_k = 40;
  r.sampling.seed = 5;
  return r;
}

engine::EngineConfig engine_config() {
  engine::EngineConfig c;
  c.n_threads = 1;
  c.max_batch_size = 8;
  return c;
}

std::vector<int32_t> direct_run(const std::shared_ptr<const engine::Model>& model, const GenerationRequest& r) {
  auto eng = engine::Engine::create(model, engine_config());
  EXPECT_TRUE(eng.ok());
  EXPECT_TRUE((*eng)->submit(r).ok());
  std::vector<int32_t> tokens;
  for (int i = 0; i < 10000 && (*eng)->has_work(); ++i) {
    for (const auto& t : (*eng)->step().tokens) tokens.push_back(t.token);
  }
  return tokens;
}

class DeviceFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine::test::SynthSpec spec;
    spec.dim = 32;
    spec.n_layers = 2;
    spec.ctx = 256;
    spec.seed = 3;
    auto m = engine::test::load_synth(spec);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = std::move(m).value();
    DeviceHostConfig c;
    c.engine = engine_config();
    c.beat_interval_ms = 5;
    c.model_key = "tiny";
    c.fail_on_prompt = {"POISON", "venom"};
    c.before_step = gate_.hook();
    auto h = DeviceHost::start(model_.model, c);
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

  engine::test::SynthModel model_;
  test::StepGate gate_;  // before host_: its engine thread runs the gate's hook
  std::unique_ptr<DeviceHost> host_;
  test::HostOutputs out_;
  std::map<std::string, test::HostJob>& jobs_ = out_.jobs;
};

TEST_F(DeviceFaultTest, PoisonJobFailsWithAnEngineErrorWhileTheOthersComplete) {
  const GenerationRequest good = request("hello rings", 12);
  const std::vector<int32_t> expected = direct_run(model_.model, good);
  ASSERT_EQ(expected.size(), 12u);
  host_->submit("a", 1, good);
  host_->submit("p", 1, request("a POISON prompt", 12));
  host_->submit("b", 1, good);
  ASSERT_TRUE(collect_until([&] { return finished("a") && finished("b") && finished("p"); }));
  EXPECT_EQ(jobs_["p"].finish.reason, FinishReason::kError);
  EXPECT_EQ(jobs_["p"].finish.attempt, 1);
  EXPECT_EQ(jobs_["p"].finish.error, "injected fault: prompt contains 'POISON'");
  EXPECT_TRUE(jobs_["p"].tokens.empty());
  for (const char* id : {"a", "b"}) {
    EXPECT_EQ(jobs_[id].finish.reason, FinishReason::kLength) << id;
    EXPECT_EQ(jobs_[id].tokens, expected) << id;
  }
  // Every attempt fails the same way (the broker retries with attempt + 1); the device goes on.
  host_->submit("p", 2, request("venom", 4));
  ASSERT_TRUE(collect_until([&] { return jobs_["p"].n_finished == 2; }));
  EXPECT_EQ(jobs_["p"].finish.reason, FinishReason::kError);
  EXPECT_EQ(jobs_["p"].finish.attempt, 2);
  EXPECT_EQ(jobs_["p"].finish.error, "injected fault: prompt contains 'venom'");
  host_->submit("c", 1, good);
  ASSERT_TRUE(collect_until([&] { return finished("c"); }));
  EXPECT_EQ(jobs_["c"].tokens, expected);
  for (const auto& [id, j] : jobs_) EXPECT_LE(j.n_finished, id == "p" ? 2 : 1) << id;
  EXPECT_TRUE(wait_until([&] { return host_->load().n_jobs == 0; }));
}

TEST_F(DeviceFaultTest, CancelOfAPoisonJobStillEndsItCancelled) {
  hold_steps();
  host_->submit("x", 1, request("plain", 4));
  ASSERT_TRUE(wait_blocked());
  // Both reach the engine thread in one turn: admitted with a fault, then cancelled.
  host_->submit("p", 1, request("POISON", 4));
  host_->cancel("p");
  release_steps();
  ASSERT_TRUE(collect_until([&] { return finished("x") && finished("p"); }));
  EXPECT_EQ(jobs_["p"].finish.reason, FinishReason::kCancelled);
  EXPECT_TRUE(jobs_["p"].finish.error.empty());
  EXPECT_EQ(jobs_["x"].finish.reason, FinishReason::kLength);
  EXPECT_EQ(host_->n_unknown_cancels(), 0u);
}

TEST_F(DeviceFaultTest, PromptsWithoutAMarkerAreUntouched) {
  host_->submit("q", 1, request("poison in lower case", 5));  // markers are case-sensitive
  ASSERT_TRUE(collect_until([&] { return finished("q"); }));
  EXPECT_EQ(jobs_["q"].finish.reason, FinishReason::kLength);
  EXPECT_EQ(jobs_["q"].tokens.size(), 5u);
}

}  // namespace
}  // namespace rs::worker
