// Prompt logprobs against llama.cpp: a fixture's prompt followed by its reference
// continuation is scored as one prompt (max_tokens 0, prompt_logprobs 5), so position
// n_prompt + i holds the reference's teacher-forced step i. The fixtures keep only the
// top-5 logits of each step, not their normalizer, so the check is on what the
// log-softmax keeps of them: for every reference top-5 id among our alternatives,
// logprob(id) - logprob(step token) equals the reference logit difference within twice
// the type's bound (each logit is within one bound), and our most likely token is the
// reference's wherever its margin exceeds twice the bound.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "rs/engine/engine.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

struct ScoreCase {
  const char* fixture;  // under fixtures/, its model under models/ (same subfolder)
  float abs_tol;
  float rel_tol;
};

const ScoreCase kScoreCases[] = {
    {"stories260K", 1e-3f, 1e-4f},
    {"llama-spm-tied-q8_0", 3e-1f, 1e-2f},
    {"set2/qwen3-tiny-f32", 1e-3f, 1e-4f},
    {"set2/qwen3-tiny-q4_k_m", 1.0f, 3e-2f},
    {"set2/llama-kq-q4_k_m", 6e-1f, 2e-2f},
    {"set2/llama-kq-iq4_nl", 4e-1f, 2e-2f},
};

void PrintTo(const ScoreCase& c, std::ostream* os) { *os << c.fixture; }

// Scores `tokens` as a prompt: positions[i] is prompt position i + 1.
std::vector<PromptLogprob> score(std::shared_ptr<const Model> model, const std::vector<int32_t>& tokens) {
  EngineConfig cfg;
  cfg.max_context = 256;
  cfg.n_threads = 2;
  cfg.max_batch_tokens = 16;  // several prefill chunks
  cfg.kv_cache_type = KvCacheType::kF32;  // as llama.cpp made the fixtures
  auto eng = Engine::create(std::move(model), cfg);
  EXPECT_TRUE(eng.ok()) << eng.status().to_string();
  if (!eng.ok()) return {};
  GenerationRequest req;
  req.prompt_tokens = tokens;
  req.max_tokens = 0;
  req.prompt_logprobs = 5;
  auto id = (*eng)->submit(req);
  EXPECT_TRUE(id.ok()) << id.status().to_string();
  std::vector<PromptLogprob> out;
  for (int i = 0; i < 1000 && (*eng)->has_work(); ++i) {
    StepResult r = (*eng)->step();
    for (PromptLogprobsEvent& e : r.prompt_logprobs) out = std::move(e.positions);
  }
  return out;
}

class PromptLogprobsFixtureTest : public ::testing::TestWithParam<ScoreCase> {};

TEST_P(PromptLogprobsFixtureTest, TopFiveDifferencesMatchTheReferenceLogits) {
  const ScoreCase& c = GetParam();
  const std::string name = c.fixture;
  const std::string fixture = test::fixture_path(name + ".json");
  RS_REQUIRE_FILE(fixture);
  const nlohmann::json fx = test::load_json(fixture);
  const std::string dir = name.find('/') == std::string::npos ? "" : name.substr(0, name.rfind('/') + 1);
  const std::string path = test::model_path(dir + fx["model"].get<std::string>());
  RS_REQUIRE_FILE(path);
  auto model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  int n_checked = 0;
  for (const auto& gen : fx["generate"]) {
    auto tokens = gen["prompt_ids"].get<std::vector<int32_t>>();
    const auto generated = gen["generated_ids"].get<std::vector<int32_t>>();
    const size_t n_prompt = tokens.size();
    tokens.insert(tokens.end(), generated.begin(), generated.end() - 1);  // teacher-forced
    const std::vector<PromptLogprob> lp = score(*model, tokens);
    ASSERT_EQ(lp.size(), tokens.size() - 1) << gen["prompt"];
    for (size_t i = 0; i + 1 < generated.size(); ++i) {
      const auto& step = gen["steps"][i];
      const PromptLogprob& p = lp[n_prompt + i - 1];  // prompt position n_prompt + i
      ASSERT_EQ(p.token, generated[i]);
      std::map<int32_t, float> ours{{p.token, p.logprob}};
      for (const TokenLogprob& t : p.top) ours[t.token] = t.logprob;
      std::map<int32_t, float> ref;
      for (const auto& pair : step["top5"]) ref[pair[0].get<int32_t>()] = pair[1].get<float>();
      const float ref_token = ref.count(p.token) ? ref[p.token] : NAN;
      if (std::isnan(ref_token)) continue;  // the step token outside the reference's top 5
      const std::string where = gen["prompt"].get<std::string>() + " step " + std::to_string(i);
      for (const auto& [id, logit] : ref) {
        if (!ours.count(id)) continue;
        const float bound = 2 * (c.abs_tol + c.rel_tol * std::max(std::fabs(logit), std::fabs(ref_token)));
        EXPECT_NEAR(ours[id] - ours[p.token], logit - ref_token, bound) << where << " id " << id;
        ++n_checked;
      }
      const float top = step["top5"][0][1].get<float>();
      if (step["margin"].get<float>() > 2 * (c.abs_tol + c.rel_tol * std::fabs(top))) {
        ASSERT_FALSE(p.top.empty());
        EXPECT_EQ(p.top[0].token, step["top5"][0][0].get<int32_t>()) << where;
      }
    }
  }
  EXPECT_GT(n_checked, 20);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PromptLogprobsFixtureTest, ::testing::ValuesIn(kScoreCases),
                         [](const ::testing::TestParamInfo<ScoreCase>& info) {
                           std::string n = info.param.fixture;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace rs::engine
