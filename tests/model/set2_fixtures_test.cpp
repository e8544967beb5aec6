// The set2 llama-kq fixtures (../shared/fixtures/set2): one model in eleven weight types as
// written by llama-quantize (per-tensor mixes, e.g. Q6_K output in every quantized file).
// F32: free-running greedy exact; quantized: teacher-forced top-5 logits within the
// README's per-type bounds, argmax equal where the reference margin exceeds 2x the bound.
// Each runs on the scalar path and on the best SIMD path. (qwen3-tiny is not covered here.)
#include <gtest/gtest.h>

#include <string>

#include "fixture_session.h"

namespace rs::engine {
namespace {

using fixture_test::FixtureCase;

constexpr float kKquantAbs = 6e-1f, kKquantRel = 2e-2f;  // Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K
constexpr float kLegacyAbs = 4e-1f, kLegacyRel = 2e-2f;  // Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL

#define RS_SET2_CASES(path)                                                        \
  FixtureCase{"set2/llama-kq-f32", 1e-3f, 1e-4f, true, true, path},                \
      FixtureCase{"set2/llama-kq-q2_k", kKquantAbs, kKquantRel, false, true, path},   \
      FixtureCase{"set2/llama-kq-q3_k_m", kKquantAbs, kKquantRel, false, true, path}, \
      FixtureCase{"set2/llama-kq-q4_k_m", kKquantAbs, kKquantRel, false, true, path}, \
      FixtureCase{"set2/llama-kq-q5_k_m", kKquantAbs, kKquantRel, false, true, path}, \
      FixtureCase{"set2/llama-kq-q6_k", kKquantAbs, kKquantRel, false, true, path},   \
      FixtureCase{"set2/llama-kq-q4_0", kLegacyAbs, kLegacyRel, false, true, path},   \
      FixtureCase{"set2/llama-kq-q4_1", kLegacyAbs, kLegacyRel, false, true, path},   \
      FixtureCase{"set2/llama-kq-q5_0", kLegacyAbs, kLegacyRel, false, true, path},   \
      FixtureCase{"set2/llama-kq-q5_1", kLegacyAbs, kLegacyRel, false, true, path},   \
      FixtureCase{"set2/llama-kq-iq4_nl", kLegacyAbs, kLegacyRel, false, true, path}

const FixtureCase kSet2Cases[] = {RS_SET2_CASES(KernelPath::kAuto), RS_SET2_CASES(KernelPath::kScalar)};

#undef RS_SET2_CASES

class Set2FixtureTest : public fixture_test::FixtureTestBase {};

TEST_P(Set2FixtureTest, TeacherForcedLogits) { run_teacher_forced(); }

TEST_P(Set2FixtureTest, FreeRunningGreedy) {
  if (!GetParam().exact_greedy) GTEST_SKIP() << "exact greedy is required for F32 weights only";
  run_free_running_greedy();
}

std::string set2_test_name(const ::testing::TestParamInfo<FixtureCase>& info) {
  return fixture_test::case_test_name(info) + (info.param.path == KernelPath::kScalar ? "_scalar" : "");
}

INSTANTIATE_TEST_SUITE_P(Set2, Set2FixtureTest, ::testing::ValuesIn(kSet2Cases), set2_test_name);

}  // namespace
}  // namespace rs::engine
