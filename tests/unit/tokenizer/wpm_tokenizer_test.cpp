// WordPiece ("bert"): normalization (lowercase, accents stripped, control characters
// dropped), word splitting, greedy longest match with the U+2581 word prefix, [UNK] for a
// word no tokens cover, and [CLS]/[SEP] with add_special.
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace rs::engine {
namespace {

#define WP "\xE2\x96\x81"  // U+2581, llama.cpp's word-start mark

// ids: 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 ▁hello 5 ▁world 6 ▁un 7 aff 8 able 9 ▁, 10 ▁! 11 ▁apfel
// 12 ▁中 13 ▁文 14 ▁a 15 ff 16 ▁$ 17 ▁~
GgufWriter wpm_writer() {
  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "bert");
  w.add_string("tokenizer.ggml.pre", "bert-bge");
  w.add_string_array("tokenizer.ggml.tokens",
                     {"[PAD]", "[UNK]", "[CLS]", "[SEP]", WP "hello", WP "world", WP "un", "aff", "able", WP ",", WP "!",
                      WP "apfel", WP "\xE4\xB8\xAD", WP "\xE6\x96\x87", WP "a", "ff", WP "$", WP "~"});
  w.add_i32_array("tokenizer.ggml.token_type", {3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  w.add_u32("tokenizer.ggml.unknown_token_id", 1);
  w.add_u32("tokenizer.ggml.cls_token_id", 2);
  w.add_u32("tokenizer.ggml.seperator_token_id", 3);
  return w;
}

using Ids = std::vector<int32_t>;

TEST(WpmTokenizer, WordsAndPieces) {
  auto tok = test::load_tokenizer(wpm_writer());
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.model_name(), "bert");
  EXPECT_EQ(t.encode("Hello, WORLD!", false), (Ids{4, 9, 5, 10}));
  // Longest first: "▁un" then "aff" then "able" (not "▁a" + ...).
  EXPECT_EQ(t.encode("unaffable", false), (Ids{6, 7, 8}));
  // Accents stripped (NFD base letter), lowercased; a control character vanishes.
  EXPECT_EQ(t.encode("\xC3\x84pf\xC3\xA9l\x01", false), (Ids{11}));
  // CJK ideographs are words of their own; ASCII symbols too.
  EXPECT_EQ(t.encode("\xE4\xB8\xAD\xE6\x96\x87$~", false), (Ids{12, 13, 16, 17}));
  // A word that cannot be covered is one [UNK], whatever matched before.
  EXPECT_EQ(t.encode("hello unaffx world", false), (Ids{4, 1, 5}));
  EXPECT_EQ(t.encode(" \t\n ", false), Ids{});
  EXPECT_EQ(t.encode("hello", true), (Ids{2, 4, 3}));
  EXPECT_EQ(t.piece(4), " hello");
  EXPECT_EQ(t.piece(7), "aff");
  EXPECT_EQ(t.piece(2), "");
}

TEST(WpmTokenizer, CasedModelKeepsCaseAndAccents) {
  GgufWriter w = wpm_writer();
  w.add_bool("tokenizer.ggml.normalizer.lowercase", false);  // strip_accents follows it
  auto tok = test::load_tokenizer(w);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  EXPECT_EQ((*tok)->encode("hello Hello \xC3\x84pfel apfel", false), (Ids{4, 1, 1, 11}));

  GgufWriter strip = wpm_writer();
  strip.add_bool("tokenizer.ggml.normalizer.lowercase", false);
  strip.add_bool("tokenizer.ggml.normalizer.strip_accents", true);
  auto tok2 = test::load_tokenizer(strip);
  ASSERT_TRUE(tok2.ok()) << tok2.status().to_string();
  EXPECT_EQ((*tok2)->encode("\xC3\xA4pfel", false), (Ids{11}));
}

TEST(WpmTokenizer, UnsupportedModelNamesTheModel) {
  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "rwkv");
  w.add_string_array("tokenizer.ggml.tokens", {"a"});
  auto tok = test::load_tokenizer(w);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(tok.status().message().find("unsupported tokenizer model 'rwkv'"), std::string::npos);
}

#undef WP

}  // namespace
}  // namespace rs::engine
