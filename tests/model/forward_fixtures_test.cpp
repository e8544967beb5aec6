// Forward-pass correctness against llama.cpp reference outputs (../shared/fixtures):
// teacher-forced top-5 logits and argmax per step, exact free-running greedy generation
// for F32 models, chunked prefill and batched runs equal to single-sequence runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fixture_session.h"

namespace rs::engine {
namespace {

using fixture_test::FixtureCase;
using fixture_test::ids;
using fixture_test::Session;

const FixtureCase kCases[] = {
    {"stories260K", 1e-3f, 1e-4f, true, true},
    {"stories260K-f16", 5e-2f, 2e-3f, false, true},
    {"stories260K-bf16", 1.5e-1f, 1e-2f, false, true},
    {"llama-spm-tied-f32", 1e-3f, 1e-4f, true, true},
    {"llama-spm-tied-q8_0", 3e-1f, 1e-2f, false, true},
    {"qwen2-gpt2vocab-f32", 1e-3f, 1e-4f, true, true},
    {"qwen2-gpt2vocab-f16", 5e-2f, 2e-3f, false, true},
    {"qwen2-gpt2vocab-q8_0", 3e-1f, 1e-2f, false, true},
    {"llama-2-tiny-random", 5e-2f, 2e-3f, false, false},
    {"set2/qwen3-tiny-f32", 1e-3f, 1e-4f, true, true},
    {"set2/qwen3-tiny-q8_0", 1.0f, 3e-2f, false, true},
    {"set2/qwen3-tiny-q4_k_m", 1.0f, 3e-2f, false, true},
};

class FixtureTest : public fixture_test::FixtureTestBase {};

TEST_P(FixtureTest, TeacherForcedLogits) { run_teacher_forced(); }

TEST_P(FixtureTest, FreeRunningGreedy) {
  if (!GetParam().exact_greedy) GTEST_SKIP() << "exact greedy is required for F32 weights only";
  run_free_running_greedy();
}

TEST_P(FixtureTest, ChunkedPrefillMatchesOneChunk) {
  // The longest prompt followed by its reference continuation: a long enough prefill.
  std::vector<int32_t> tokens;
  for (const auto& gen : json_["generate"]) {
    auto t = ids(gen["prompt_ids"]);
    for (int32_t id : ids(gen["generated_ids"])) t.push_back(id);
    if (t.size() > tokens.size()) tokens = t;
  }
  Session session(*model_, 1);
  Session::Seq one;
  const std::vector<float> ref = session.feed(one, tokens);
  for (size_t chunk : {1u, 5u, 16u, 23u}) {
    Session::Seq seq;
    std::vector<float> last;
    for (size_t i = 0; i < tokens.size(); i += chunk) {
      const size_t end = std::min(tokens.size(), i + chunk);
      last = session.feed(seq, std::vector<int32_t>(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                                                    tokens.begin() + static_cast<std::ptrdiff_t>(end)));
    }
    ASSERT_EQ(last.size(), ref.size());
    for (size_t v = 0; v < ref.size(); ++v) ASSERT_NEAR(last[v], ref[v], 1e-4f) << "chunk " << chunk << " id " << v;
    session.free(seq);
  }
}

TEST_P(FixtureTest, BatchedEqualsAloneBitForBit) {
  std::vector<std::vector<int32_t>> prompts, continuations;
  for (const auto& gen : json_["generate"]) {
    prompts.push_back(ids(gen["prompt_ids"]));
    continuations.push_back(ids(gen["generated_ids"]));
  }
  const size_t kSteps = 6;
  std::vector<std::vector<std::vector<float>>> alone(prompts.size());
  Session single(*model_, 1);
  for (size_t i = 0; i < prompts.size(); ++i) {
    Session::Seq s;
    alone[i].push_back(single.feed(s, prompts[i]));
    for (size_t k = 0; k < kSteps; ++k) alone[i].push_back(single.feed(s, {continuations[i][k]}));
    single.free(s);
  }
  Session batched(*model_, 2);
  std::vector<Session::Seq> seqs(prompts.size());
  for (size_t step = 0; step <= kSteps; ++step) {
    std::vector<Session::Seq*> ptrs;
    std::vector<std::vector<int32_t>> chunks;
    std::vector<size_t> order;
    for (size_t k = 0; k < prompts.size(); ++k) order.push_back((k + step) % prompts.size());  // rotate
    for (size_t i : order) {
      ptrs.push_back(&seqs[i]);
      chunks.push_back(step == 0 ? prompts[i] : std::vector<int32_t>{continuations[i][step - 1]});
    }
    auto out = batched.feed(ptrs, chunks);
    ASSERT_EQ(out.size(), order.size());
    for (size_t k = 0; k < order.size(); ++k) {
      const auto& ref = alone[order[k]][step];
      ASSERT_TRUE(out[k].size() == ref.size() &&
                  std::memcmp(out[k].data(), ref.data(), ref.size() * sizeof(float)) == 0)
          << "seq " << order[k] << " step " << step;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureTest, ::testing::ValuesIn(kCases), fixture_test::case_test_name);

}  // namespace
}  // namespace rs::engine
