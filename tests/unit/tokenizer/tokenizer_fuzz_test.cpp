// Arbitrary bytes never crash any tokenizer family or pre-tokenizer, every id is in range,
// and valid UTF-8 survives encode/decode through each byte-level pre-tokenizer.
#include <gtest/gtest.h>

#include <random>

#include "rs/engine/tokenizer.h"
#include "tokenizer_test_util.h"

namespace rs::engine {
namespace {

std::string random_bytes(std::mt19937& rng, size_t n) {
  static const char kAlphabet[] = " \t\n\r'sStTlLdD0123456789abcXYZ.,!?$+<=>^~|`\"";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = rng() % 3;
    s += r == 0 ? static_cast<char>(rng() & 0xFF) : kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  }
  return s;
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    size_t n = b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3 : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1Fu) : n == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    i += n;
  }
  return true;
}

void fuzz(const Tokenizer& tok, bool byte_level, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int i = 0; i < 400; ++i) {
    const std::string text = random_bytes(rng, rng() % 24);
    const std::vector<int32_t> ids = tok.encode(text, true);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.n_vocab()) << id;
    if (byte_level && valid_utf8(text)) {
      ASSERT_EQ(tok.decode(tok.encode(text, false)), text) << "case " << i;
    }
    StreamDecoder d(tok);
    for (int32_t id : ids) (void)d.push(id);
    (void)d.flush();
  }
}

TEST(TokenizerFuzz, EveryBytePreTokenizer) {
  const ByteLevelVocab v = make_byte_level_vocab();
  for (const char* pre : {"gpt-2", "default", "llama-bpe", "qwen2", "", "falcon", "starcoder", "deepseek-llm",
                          "deepseek-coder", "deepseek-v3"}) {
    SCOPED_TRACE(pre);
    auto tok = test::load_tokenizer(test::byte_level_writer(v, pre));
    ASSERT_TRUE(tok.ok()) << tok.status().to_string();
    fuzz(**tok, true, 7);
  }
}

TEST(TokenizerFuzz, SentencePiece) {
  auto tok = test::load_tokenizer(test::spm_writer({"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab"}));
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  fuzz(**tok, false, 11);
}

TEST(TokenizerFuzz, SentencePieceWithoutByteTokensUsesUnknown) {
  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a"});
  w.add_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1});
  auto tok = test::load_tokenizer(w);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  EXPECT_EQ((*tok)->encode("a z", false), (std::vector<int32_t>{3, 4, 3, 0}));
  fuzz(**tok, false, 13);
}

TEST(TokenizerFuzz, WordPiece) {
  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "bert");
  w.add_string_array("tokenizer.ggml.tokens", {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xE2\x96\x81" "a", "b", "s",
                                               "\xE2\x96\x81" "!", "\xE2\x96\x81" "0"});
  w.add_i32_array("tokenizer.ggml.token_type", {3, 3, 3, 3, 1, 1, 1, 1, 1});
  w.add_u32("tokenizer.ggml.unknown_token_id", 1);
  w.add_u32("tokenizer.ggml.cls_token_id", 2);
  w.add_u32("tokenizer.ggml.seperator_token_id", 3);
  auto tok = test::load_tokenizer(w);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  fuzz(**tok, false, 17);
}

TEST(TokenizerFuzz, UserDefinedTokensAreSplitOut) {
  ByteLevelVocab v = make_byte_level_vocab();
  v.tokens.push_back("<tool>");
  v.token_types.push_back(static_cast<int32_t>(TokenType::kUserDefined));
  const auto tool = static_cast<int32_t>(v.tokens.size()) - 1;
  auto tok = test::load_tokenizer(test::byte_level_writer(v));
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const std::vector<int32_t> ids = (*tok)->encode("x<tool>y<tool>", false);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[1], tool);
  EXPECT_EQ(ids[3], tool);
  EXPECT_EQ((*tok)->piece(tool), "<tool>");
  EXPECT_EQ((*tok)->decode(ids), "x<tool>y<tool>");
}

}  // namespace
}  // namespace rs::engine
