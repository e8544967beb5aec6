// encode(..., parse_special): control and unknown tokens written in the text become their ids
// (a rendered chat template), only then; user-defined ones always; longest match first.
#include <gtest/gtest.h>

#include <algorithm>

#include "rs/engine/tokenizer.h"
#include "tokenizer_test_util.h"

namespace rs::engine {
namespace {

int32_t id_of(const Tokenizer& tok, const std::string& text) {
  for (int32_t i = 0; i < tok.n_vocab(); ++i) {
    if (tok.token_text(i) == text) return i;
  }
  return -1;
}

size_t count(const std::vector<int32_t>& ids, int32_t id) {
  return static_cast<size_t>(std::count(ids.begin(), ids.end(), id));
}

TEST(ParseSpecial, ByteLevelChatmlMarkersBecomeOneIdEach) {
  auto tok = test::load_tokenizer(test::byte_level_writer(make_byte_level_vocab()));
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Tokenizer& t = **tok;
  const int32_t start = id_of(t, "<|im_start|>");
  const int32_t end = id_of(t, "<|im_end|>");
  ASSERT_GE(start, 0);
  ASSERT_GE(end, 0);
  EXPECT_TRUE(t.is_eog(end));  // a turn's end ends generation
  const std::string text = "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n";
  const std::vector<int32_t> parsed = t.encode(text, false, true);
  EXPECT_EQ(count(parsed, start), 2u);
  EXPECT_EQ(count(parsed, end), 1u);
  EXPECT_EQ(parsed.front(), start);
  EXPECT_EQ(t.decode(parsed), "user\nHi there\nassistant\n");  // control pieces print nothing
  const std::vector<int32_t> plain = t.encode(text, false, false);
  EXPECT_EQ(count(plain, start), 0u);  // as text: many byte-level tokens
  EXPECT_GT(plain.size(), parsed.size());
  // The text between the markers tokenizes as it does alone.
  const std::vector<int32_t> hi = t.encode("user\nHi there", false, false);
  EXPECT_TRUE(std::equal(hi.begin(), hi.end(), parsed.begin() + 1));
}

TEST(ParseSpecial, SentencePieceBosInTheTextIsTheBosId) {
  auto tok = test::load_tokenizer(test::spm_writer({"he", "ll", "hello"}));
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Tokenizer& t = **tok;
  const std::vector<int32_t> parsed = t.encode("<s>hello</s>", false, true);
  ASSERT_GE(parsed.size(), 3u);
  EXPECT_EQ(parsed.front(), t.bos());
  EXPECT_EQ(parsed.back(), t.eos());
  EXPECT_EQ(count(parsed, t.bos()), 1u);
  const std::vector<int32_t> plain = t.encode("<s>hello</s>", false, false);
  EXPECT_EQ(count(plain, t.bos()), 0u);
  EXPECT_EQ(count(plain, t.eos()), 0u);
  // An unknown token's text is parsed too; an empty text stays empty.
  EXPECT_EQ(t.encode("<unk>", false, true), std::vector<int32_t>{0});
  EXPECT_TRUE(t.encode("", false, true).empty());
}

}  // namespace
}  // namespace rs::engine
