// Model::chat_prompt: the template from the GGUF or an override, rendered and tokenized with
// special tokens parsed, BOS exactly once; no template or a bad one is a reason, not a crash.
#include <gtest/gtest.h>

#include <algorithm>

#include "rs/engine/model.h"
#include "synth_model.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

constexpr char kChatml[] =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' "
    "}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
constexpr char kMessages[] =
    R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <there>"}])";

size_t count(const std::vector<int32_t>& ids, int32_t id) {
  return static_cast<size_t>(std::count(ids.begin(), ids.end(), id));
}

int32_t id_of(const Tokenizer& tok, const std::string& text) {
  for (int32_t i = 0; i < tok.n_vocab(); ++i) {
    if (tok.token_text(i) == text) return i;
  }
  return -1;
}

Result<std::shared_ptr<const Model>> stories(std::optional<std::string> chat_template) {
  return Model::load(rs::test::model_path("stories260K.gguf"),
                     ModelOptions{std::move(chat_template)});
}

TEST(ChatPrompt, SpecialTokensOfTheVocabularyAreOneIdEach) {
  test::SynthSpec spec;  // the byte-level vocabulary holds ChatML's markers
  auto bytes = test::synth_gguf(spec);
  auto file = GgufFile::from_buffer(bytes);
  ASSERT_TRUE(file.ok());
  auto model = Model::from_gguf(std::move(file).value(), ModelOptions{kChatml});
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ASSERT_NE((*model)->chat_template(), nullptr) << (*model)->chat_template_error();
  auto ids = (*model)->chat_prompt(ChatInput{.messages_json = kMessages});
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  const Tokenizer& tok = (*model)->tokenizer();
  EXPECT_EQ(count(*ids, id_of(tok, "<|im_start|>")), 3u);  // system, user, the assistant's opener
  EXPECT_EQ(count(*ids, id_of(tok, "<|im_end|>")), 2u);
  EXPECT_EQ(ids->front(), id_of(tok, "<|im_start|>"));  // gpt2-style: no BOS added
  EXPECT_EQ(tok.decode(*ids), "system\nBe brief.\nuser\nHi <there>\nassistant\n");
}

TEST(ChatPrompt, BosAppearsOnceWhetherOrNotTheTemplateWritesIt) {
  RS_REQUIRE_FILE(rs::test::model_path("stories260K.gguf"));
  for (const std::string& tmpl : {std::string("{{ bos_token }}") + kChatml, std::string(kChatml),
                                  std::string("{{ bos_token }}{{ bos_token }}") + kChatml}) {
    auto model = stories(tmpl);
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    const Tokenizer& tok = (*model)->tokenizer();
    ASSERT_TRUE(tok.adds_bos());
    auto ids = (*model)->chat_prompt(ChatInput{.messages_json = kMessages});
    ASSERT_TRUE(ids.ok()) << ids.status().to_string();
    EXPECT_EQ(ids->front(), tok.bos()) << tmpl;
    // A template that writes BOS twice gets it twice (as transformers would); never a third.
    const size_t written = tmpl.starts_with("{{ bos_token }}{{ bos_token }}") ? 2u : 1u;
    EXPECT_EQ(count(*ids, tok.bos()), written) << tmpl;
  }
}

TEST(ChatPrompt, NoTemplateOrABadOneIsAReasonAndPlainPromptsStillWork) {
  RS_REQUIRE_FILE(rs::test::model_path("stories260K.gguf"));
  auto none = stories(std::nullopt);  // stories260K's GGUF has no tokenizer.chat_template
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_EQ((*none)->chat_template(), nullptr);
  EXPECT_NE((*none)->chat_template_error().find("tokenizer.chat_template"), std::string::npos);
  auto refused = (*none)->chat_prompt(ChatInput{.messages_json = kMessages});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);

  auto bad = stories("{% for m in messages %}{{ m.content }");  // unclosed
  ASSERT_TRUE(bad.ok()) << bad.status().to_string();
  EXPECT_EQ((*bad)->chat_template(), nullptr);
  EXPECT_FALSE((*bad)->chat_template_error().empty());

  auto raising = stories("{{ raise_exception('no system role here') }}");
  ASSERT_TRUE(raising.ok());
  auto failed = (*raising)->chat_prompt(ChatInput{.messages_json = kMessages});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(failed.status().message().find("no system role here"), std::string::npos);
  auto bad_json = (*raising)->chat_prompt(ChatInput{.messages_json = "[{"});
  EXPECT_FALSE(bad_json.ok());
}

}  // namespace
}  // namespace rs::engine
