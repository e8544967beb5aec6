// make_byte_level_vocab: deterministic, well-formed, and lossless through encode/decode.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "rs/engine/tokenizer.h"
#include "tokenizer_test_util.h"

namespace rs::engine {
namespace {

std::string random_utf8(std::mt19937& rng, size_t n_chars) {
  static const std::vector<uint32_t> kCommon = {' ', ' ', ' ', '\n', '\t', 'e', 't', 'a', 'o', '\'', '.', ',',
                                                '0', '7', 0xE9, 0x4F60, 0x1F999, 0x3000, 0x2003, 0x85};
  std::string out;
  for (size_t i = 0; i < n_chars; ++i) {
    uint32_t cp = 0;
    switch (rng() % 4) {
      case 0: cp = kCommon[rng() % kCommon.size()]; break;
      case 1: cp = 0x20 + rng() % 0x5F; break;                     // printable ASCII
      case 2: cp = rng() % 0x800; break;                           // incl. controls and 2-byte
      default:
        do cp = rng() % 0x110000; while (cp >= 0xD800 && cp <= 0xDFFF);  // any scalar value
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

TEST(ByteLevelVocab, Shape) {
  const ByteLevelVocab v = make_byte_level_vocab();
  ASSERT_EQ(v.tokens.size(), v.token_types.size());
  EXPECT_EQ(v.tokens.size(), 256 + v.merges.size() + 3);
  EXPECT_GE(v.merges.size(), 200u);
  EXPECT_EQ(v.eos_id, static_cast<int32_t>(v.tokens.size()) - 3);
  EXPECT_EQ(v.tokens[v.tokens.size() - 2], "<|im_start|>");  // ChatML's turn markers, control
  EXPECT_EQ(v.tokens[v.tokens.size() - 1], "<|im_end|>");
  EXPECT_EQ(v.token_types.back(), static_cast<int32_t>(TokenType::kControl));
  EXPECT_EQ(v.bos_id, v.eos_id);
  EXPECT_EQ(v.tokens[static_cast<size_t>(v.eos_id)], "<|endoftext|>");
  EXPECT_EQ(v.token_types[static_cast<size_t>(v.eos_id)], static_cast<int32_t>(TokenType::kControl));
  EXPECT_EQ(std::set<std::string>(v.tokens.begin(), v.tokens.end()).size(), v.tokens.size());  // all distinct
  EXPECT_EQ(v.tokens[' '], "\xC4\xA0");  // GPT-2's 'Ġ'
  EXPECT_EQ(v.tokens['a'], "a");
  const ByteLevelVocab again = make_byte_level_vocab();
  EXPECT_EQ(again.tokens, v.tokens);
  EXPECT_EQ(again.merges, v.merges);
}

class ByteLevelTokenizerTest : public ::testing::Test {
 protected:
  const Tokenizer* tok_ = &test::byte_level_tokenizer();
};

TEST_F(ByteLevelTokenizerTest, LoadsAsGpt2) {
  EXPECT_EQ(tok_->model_name(), "gpt2");
  EXPECT_EQ(tok_->pre_name(), "gpt-2");
  EXPECT_FALSE(tok_->adds_bos());
  EXPECT_TRUE(tok_->is_eog(tok_->eos()));
  EXPECT_FALSE(tok_->is_eog('a'));
  EXPECT_EQ(tok_->piece(tok_->eos()), "");
  EXPECT_EQ(tok_->encode("", true), std::vector<int32_t>{});
}

TEST_F(ByteLevelTokenizerTest, MergesCompressEnglish) {
  const std::string text = "Once upon a time, there was a little girl who lived in the forest.";
  const std::vector<int32_t> ids = tok_->encode(text, false);
  EXPECT_LT(ids.size(), text.size() / 2);
  EXPECT_EQ(tok_->decode(ids), text);
}

TEST_F(ByteLevelTokenizerTest, RandomUtf8RoundTrips) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 300; ++i) {
    const std::string text = random_utf8(rng, rng() % 40);
    const std::vector<int32_t> ids = tok_->encode(text, false);
    ASSERT_EQ(tok_->decode(ids), text) << "case " << i;
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok_->n_vocab());
    // Re-encoding the decoded text is stable.
    ASSERT_EQ(tok_->encode(tok_->decode(ids), false), ids) << "case " << i;
  }
}

TEST_F(ByteLevelTokenizerTest, SpecialTextIsPlainText) {
  // parse_special=false: "<|endoftext|>" in the input is ordinary text.
  const std::vector<int32_t> ids = tok_->encode("a<|endoftext|>b", false);
  for (int32_t id : ids) EXPECT_NE(id, tok_->eos());
  EXPECT_EQ(tok_->decode(ids), "a<|endoftext|>b");
}

}  // namespace
}  // namespace rs::engine
