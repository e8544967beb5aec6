// The qwen3 architecture on set2/qwen3-tiny: hyper-parameters read from the GGUF keys
// llama.cpp uses, the per-head Q/K norms bound, and the real Qwen3 chat template it carries
// rendered as transformers renders it (../shared/fixtures/chat/Qwen-Qwen3-0.6B.json).
// The logits themselves are checked against llama.cpp in forward_fixtures_test.cpp.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "rs/engine/model.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Qwen3ModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test::model_path("set2/qwen3-tiny-f32.gguf");
    RS_REQUIRE_FILE(path);
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = *m;
  }
  std::shared_ptr<const Model> model_;
};

TEST_F(Qwen3ModelTest, ReadsItsHyperParameters) {
  const ModelConfig& c = model_->config();
  EXPECT_EQ(c.arch, "qwen3");
  EXPECT_EQ(c.dim, 256);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.ffn_dim, 768);
  EXPECT_TRUE(c.rope_neox);
  EXPECT_FLOAT_EQ(c.rope_base, 1e6f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-6f);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_TRUE(c.tied_output);
}

TEST_F(Qwen3ModelTest, RendersItsRealChatTemplateAsTransformersDoes) {
  ASSERT_NE(model_->chat_template(), nullptr) << model_->chat_template_error();
  const std::string ref_path = test::fixture_path("chat/Qwen-Qwen3-0.6B.json");
  RS_REQUIRE_FILE(ref_path);
  // Key order kept: the template prints the tools' dicts in their given order.
  const auto ref = nlohmann::ordered_json::parse(read_text(ref_path));
  EXPECT_EQ(model_->gguf().get_string("tokenizer.chat_template").value(),
            read_text(test::fixture_path("chat/" + ref["template_file"].get<std::string>())));
  int n_checked = 0;
  for (const auto& c : ref["cases"]) {
    if (!c["error"].is_null()) continue;
    ChatInput in;
    in.messages_json = c["messages"].dump();
    if (!c["tools"].is_null()) in.tools_json = c["tools"].dump();
    if (!c["template_kwargs"].empty()) in.kwargs_json = c["template_kwargs"].dump();
    in.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    auto out = model_->chat_template()->render(in);
    ASSERT_TRUE(out.ok()) << c["name"] << ": " << out.status().to_string();
    EXPECT_EQ(*out, c["output"].get<std::string>()) << c["name"];
    ++n_checked;
  }
  EXPECT_GT(n_checked, 5);
}

}  // namespace
}  // namespace rs::engine
