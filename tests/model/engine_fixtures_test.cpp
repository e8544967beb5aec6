// Through the Engine, greedy generation of every F32 fixture prompt reproduces
// llama.cpp's generated_ids exactly (max_tokens 48, stopping at EOS as the fixture does).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "rs/engine/engine.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

class EngineFixtureTest : public ::testing::TestWithParam<std::string> {};

// Runs requests to completion; returns each request's generated ids.
std::vector<std::vector<int32_t>> generate_all(Engine& e, const std::vector<GenerationRequest>& reqs) {
  std::map<SeqId, size_t> index;
  std::vector<std::vector<int32_t>> out(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto id = e.submit(reqs[i]);
    EXPECT_TRUE(id.ok()) << id.status().to_string();
    if (id.ok()) index[*id] = i;
  }
  for (int step = 0; step < 100000 && e.has_work(); ++step) {
    StepResult r = e.step();
    for (const auto& t : r.tokens) out[index[t.seq]].push_back(t.token);
    for (const auto& f : r.finished) EXPECT_NE(f.reason, FinishReason::kError) << f.error;
  }
  return out;
}

TEST_P(EngineFixtureTest, GreedyGenerationMatchesReference) {
  const std::string model_file = test::model_path(GetParam() + ".gguf");
  const std::string fixture_file = test::fixture_path(GetParam() + ".json");
  RS_REQUIRE_FILE(model_file);
  RS_REQUIRE_FILE(fixture_file);
  auto model = Model::load(model_file);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const auto fixture = test::load_json(fixture_file);
  EngineConfig cfg;
  cfg.max_context = 256;
  cfg.n_threads = 1;  // tiny models: a second thread only adds sync overhead
  cfg.kv_cache_type = KvCacheType::kF32;  // as llama.cpp made the fixtures
  auto engine = Engine::create(*model, cfg);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();

  for (const auto& g : fixture["generate"]) {
    GenerationRequest r;
    r.prompt_tokens = g["prompt_ids"].get<std::vector<int32_t>>();
    r.max_tokens = 48;
    const auto expected = g["generated_ids"].get<std::vector<int32_t>>();
    auto got = generate_all(**engine, {r});
    EXPECT_EQ(got[0], expected) << "prompt: " << g["prompt"].get<std::string>();

    // The text path tokenizes the same way and generates the same.
    GenerationRequest t;
    t.prompt = g["prompt"].get<std::string>();
    t.max_tokens = 48;
    got = generate_all(**engine, {t});
    EXPECT_EQ(got[0], expected) << "prompt (text): " << t.prompt;
  }
  EXPECT_EQ((*engine)->kv_free_blocks(), (*engine)->kv_total_blocks());
}

INSTANTIATE_TEST_SUITE_P(F32, EngineFixtureTest,
                         ::testing::Values("stories260K", "llama-spm-tied-f32", "qwen2-gpt2vocab-f32"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace rs::engine
