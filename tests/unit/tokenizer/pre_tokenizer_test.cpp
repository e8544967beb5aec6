// Pre-tokenizers against the reference regexes. Expected splits were produced with
// Python's `regex` module (the same patterns llama.cpp lists; for "default" its four
// regexes applied in turn, keeping the text between matches).
#include <gtest/gtest.h>

#include "../../../engine/src/tokenizer/pre_tokenizer.h"

namespace rs::engine {
namespace {

using Words = std::vector<std::string>;

const std::string kQuote = "She said, \"I can't do it!\"  and   ran\n\n away...";
const std::string kDigits = "1234567 x\xC2\xB2  \tHELLO'S 3.14\r\n";
const std::string kUnicode = "h\xC3\xA9llo w\xC3\xB6rld \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x99\xF0\x9F\x9A\x80 $+<=>";

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kGpt2, kQuote),
            (Words{"She", " said", ",", " \"", "I", " can", "'t", " do", " it", "!\"", " ", " and", "  ", " ran",
                   "\n\n", " away", "..."}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kGpt2, kDigits),
            (Words{"1234567", " x", "\xC2\xB2", "  ", "\t", "HELLO", "'", "S", " 3", ".", "14", "\r\n"}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kGpt2, kUnicode),
            (Words{"h\xC3\xA9llo", " w\xC3\xB6rld", " \xE4\xBD\xA0\xE5\xA5\xBD", " \xF0\x9F\xA6\x99\xF0\x9F\x9A\x80",
                   " $+<=>"}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kGpt2, ""), Words{});
}

TEST(PreTokenizer, Llama3) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kLlama3, kDigits),
            (Words{"123", "456", "7", " x", "\xC2\xB2", "  ", "\tHELLO", "'S", " ", "3", ".", "14", "\r\n"}));
}

TEST(PreTokenizer, Qwen2) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kQwen2, kDigits),
            (Words{"1", "2", "3", "4", "5", "6", "7", " x", "\xC2\xB2", "  ", "\tHELLO", "'S", " ", "3", ".", "1", "4",
                   "\r\n"}));
}

TEST(PreTokenizer, Default) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kDefault, kQuote),
            (Words{"She", " said", ",", " ", "\"", "I", " can", "'", "t", " do", " it", "!\"", " ", " and", "  ", " ran",
                   "\n\n", " away", "..."}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kDefault, kDigits),
            (Words{"123", "456", "7", " x", "\xC2\xB2", "  ", "\t", "HELLO", "'", "S", " ", "3", ".", "14", "\r\n"}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kDefault, kUnicode),
            (Words{"h\xC3\xA9llo", " w\xC3\xB6rld", " \xE4\xBD\xA0\xE5\xA5\xBD", " \xF0\x9F\xA6\x99\xF0\x9F\x9A\x80",
                   " ", "$+<=>"}));
}

TEST(PreTokenizer, InvalidUtf8BecomesReplacement) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kGpt2, "a\xFF" "b"), (Words{"a", "\xEF\xBF\xBD", "b"}));
}

TEST(PreTokenizer, Names) {
  EXPECT_EQ(pre_tokenizer_from_name("gpt-2")->kind, PreTokenizerKind::kGpt2);
  EXPECT_EQ(pre_tokenizer_from_name("")->kind, PreTokenizerKind::kDefault);
  EXPECT_EQ(pre_tokenizer_from_name("default")->kind, PreTokenizerKind::kDefault);
  EXPECT_EQ(pre_tokenizer_from_name("qwen2")->kind, PreTokenizerKind::kQwen2);
  auto llama3 = pre_tokenizer_from_name("llama-bpe");
  ASSERT_TRUE(llama3.ok());
  EXPECT_EQ(llama3->kind, PreTokenizerKind::kLlama3);
  EXPECT_TRUE(llama3->ignore_merges);
  EXPECT_TRUE(llama3->add_bos);
  auto unknown = pre_tokenizer_from_name("no-such-pre");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace rs::engine
