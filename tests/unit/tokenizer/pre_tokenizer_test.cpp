// Pre-tokenizers against the reference regexes. Expected splits were produced with
// Python's `regex` module (the same patterns llama.cpp lists; for "default" its four
// regexes applied in turn, keeping the text between matches). The falcon, starcoder and
// DeepSeek cases were checked by hand against llama.cpp's regex lists, and the DeepSeek ones
// also against Python's `re` over llama.cpp's collapsed-category view of the text.
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

TEST(PreTokenizer, Falcon) {
  // [\p{P}$+<=>^~|`]+ first (the backtick too), the GPT-2 regex, then ASCII digit triples.
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kFalcon, "a`b $x=1234 (ok)"),
            (Words{"a", "`", "b", " ", "$", "x", "=", "123", "4", " ", "(", "ok", ")"}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kFalcon, "x  +  12345678"),
            (Words{"x", "  ", "+", " ", " ", "123", "456", "78"}));
}

TEST(PreTokenizer, Starcoder) {
  // Every number on its own, then the GPT-2 regex.
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kStarcoder, "x12 3.14"),
            (Words{"x", "1", "2", " ", "3", ".", "1", "4"}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kStarcoder, "refact's 2024"),
            (Words{"refact", "'s", " ", "2", "0", "2", "4"}));
}

TEST(PreTokenizer, DeepseekLlm) {
  // "Héllo" is one letter run, but the next regex ([!-/:-~...]+, whose range :-~ holds the
  // ASCII letters and not é) splits it again, as it does in llama.cpp.
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kDeepseekLlm, "H\xC3\xA9llo w\xC3\xB6rld \xE4\xB8\xAD\xE6\x96\x87 12345  "),
            (Words{"H", "\xC3\xA9", "llo", " w", "\xC3\xB6", "rld", " ", "\xE4\xB8\xAD\xE6\x96\x87", " ", "12345",
                   "  "}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kDeepseekLlm, "\xE2\x80\x9CQuote\xE2\x80\x9D \xEF\xBC\x81ok\xE3\x80\x82\n"),
            (Words{"\xE2\x80\x9C", "Quote", "\xE2\x80\x9D", " \xEF\xBC\x81", "ok", "\xE3\x80\x82", "\n"}));
}

TEST(PreTokenizer, DeepseekCoder) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kDeepseekCoder, "def f(x):\n  return x+1 # \xE4\xB8\xAD\xE6\x96\x87"),
            (Words{"def", " f", "(", "x", "):", "\n", " ", " return", " x", "+", "1", " #", " ",
                   "\xE4\xB8\xAD\xE6\x96\x87"}));
  // Superscript two and Arabic-Indic digits are numbers: one chunk each.
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kDeepseekCoder, "a\xC2\xB2 \xD9\xA1\xD9\xA2 ..."),
            (Words{"a", "\xC2\xB2", " ", "\xD9\xA1", "\xD9\xA2", " ..."}));
}

TEST(PreTokenizer, DeepseekV3) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kDeepseekV3,
                         "Hello, y'all! 1234567 \xE4\xBD\xA0\xE5\xA5\xBD\xE3\x81\x93\xE3\x82\x93\n\n  x~y"),
            (Words{"Hello", ",", " y", "'all", "!", " ", "123", "456", "7", " ",
                   "\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x81\x93\xE3\x82\x93", "\n\n", " ", " x", "~y"}));
  // Combining marks stay with their letters; ASCII '~' is not a symbol for llama.cpp, '$' is.
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::kDeepseekV3, "caf\xC3\xA9\xCC\x81 \xC2\xBD+2=$3 ;-)"),
            (Words{"caf\xC3\xA9\xCC\x81", " ", "\xC2\xBD", "+", "2", "=$", "3", " ;-)"}));
}

TEST(PreTokenizer, WordsJoinBackToTheText) {
  const std::string texts[] = {kQuote, kDigits, kUnicode, "\t\r\n \xE3\x80\x80x\xC2\xA0\xC2\xA0y ~`~ 1\xEF\xBC\x91"};
  for (PreTokenizerKind kind : {PreTokenizerKind::kDefault, PreTokenizerKind::kGpt2, PreTokenizerKind::kLlama3,
                                PreTokenizerKind::kQwen2, PreTokenizerKind::kFalcon, PreTokenizerKind::kStarcoder,
                                PreTokenizerKind::kDeepseekLlm, PreTokenizerKind::kDeepseekCoder,
                                PreTokenizerKind::kDeepseekV3}) {
    for (const std::string& text : texts) {
      std::string joined;
      for (const std::string& w : pre_tokenize(kind, text)) {
        EXPECT_FALSE(w.empty());
        joined += w;
      }
      EXPECT_EQ(joined, text) << static_cast<int>(kind);
    }
  }
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
  // Names llama.cpp maps to one regex list share a kind.
  EXPECT_EQ(pre_tokenizer_from_name("deepseek-r1-qwen")->kind, PreTokenizerKind::kQwen2);
  EXPECT_EQ(pre_tokenizer_from_name("refact")->kind, PreTokenizerKind::kStarcoder);
  EXPECT_EQ(pre_tokenizer_from_name("command-r")->kind, PreTokenizerKind::kStarcoder);
  EXPECT_EQ(pre_tokenizer_from_name("falcon")->kind, PreTokenizerKind::kFalcon);
  EXPECT_EQ(pre_tokenizer_from_name("deepseek-llm")->kind, PreTokenizerKind::kDeepseekLlm);
  EXPECT_EQ(pre_tokenizer_from_name("deepseek-coder")->kind, PreTokenizerKind::kDeepseekCoder);
  EXPECT_EQ(pre_tokenizer_from_name("deepseek-v3")->kind, PreTokenizerKind::kDeepseekV3);
  EXPECT_FALSE(pre_tokenizer_from_name("deepseek-v3")->ignore_merges);
  EXPECT_EQ(pre_tokenizer_from_name("mpt")->kind, PreTokenizerKind::kGpt2);
  auto unknown = pre_tokenizer_from_name("no-such-pre");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(unknown.status().message().find("'no-such-pre'"), std::string::npos);
  // Names with a regex we do not know exactly stay errors, never a fallback.
  for (const char* name : {"tekken", "gpt-4o", "kimi-k2", "bloom", "chameleon", "viking"}) {
    EXPECT_FALSE(pre_tokenizer_from_name(name).ok()) << name;
  }
}

}  // namespace
}  // namespace rs::engine
