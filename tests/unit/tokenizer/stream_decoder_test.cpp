// StreamDecoder: holds back incomplete UTF-8 sequences, replaces invalid ones.
#include <gtest/gtest.h>

#include "rs/engine/tokenizer.h"
#include "tokenizer_test_util.h"

namespace rs::engine {
namespace {

class StreamDecoderTest : public ::testing::Test {
 protected:
  const Tokenizer* tok_ = &test::byte_level_tokenizer();
};

TEST_F(StreamDecoderTest, EmojiSplitOverByteTokens) {
  StreamDecoder d(*tok_);
  EXPECT_EQ(d.push('a'), "a");
  EXPECT_EQ(d.push(0xF0), "");
  EXPECT_EQ(d.push(0x9F), "");
  EXPECT_EQ(d.push(0xA6), "");
  EXPECT_EQ(d.push(0x99), "\xF0\x9F\xA6\x99");  // U+1F999
  EXPECT_EQ(d.push('b'), "b");
  EXPECT_EQ(d.flush(), "");
}

TEST_F(StreamDecoderTest, MultiByteTokensPassThrough) {
  const std::vector<int32_t> ids = tok_->encode("h\xC3\xA9llo \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x9A\x80!", false);
  StreamDecoder d(*tok_);
  std::string out;
  for (int32_t id : ids) {
    const std::string chunk = d.push(id);
    out += chunk;
  }
  out += d.flush();
  EXPECT_EQ(out, "h\xC3\xA9llo \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x9A\x80!");
}

TEST_F(StreamDecoderTest, IncompleteTailFlushesAsReplacement) {
  StreamDecoder d(*tok_);
  EXPECT_EQ(d.push('x'), "x");
  EXPECT_EQ(d.push(0xE4), "");
  EXPECT_EQ(d.push(0xBD), "");
  EXPECT_EQ(d.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(d.flush(), "");
}

TEST_F(StreamDecoderTest, InvalidBytesBecomeReplacementAtOnce) {
  StreamDecoder d(*tok_);
  EXPECT_EQ(d.push(0xFF), "\xEF\xBF\xBD");
  EXPECT_EQ(d.push(0x80), "\xEF\xBF\xBD");  // a lone continuation byte
  EXPECT_EQ(d.push(0xE4), "");
  EXPECT_EQ(d.push('a'), "\xEF\xBF\xBD" "a");  // the sequence was cut short
  EXPECT_EQ(d.push(0xED), "");
  EXPECT_EQ(d.push(0xA0), "\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate is never valid
  EXPECT_EQ(d.flush(), "");
}

TEST_F(StreamDecoderTest, ControlTokensAddNothing) {
  StreamDecoder d(*tok_);
  EXPECT_EQ(d.push(tok_->eos()), "");
  EXPECT_EQ(d.push(-1), "");
  EXPECT_EQ(d.push(tok_->n_vocab()), "");
  EXPECT_EQ(d.flush(), "");
}

TEST(StreamDecoderSpm, ByteFallbackTokens) {
  auto tok = test::load_tokenizer(test::spm_writer({"\xE2\x96\x81", "a", "\xE2\x96\x81" "a"}));
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const std::vector<int32_t> ids = (*tok)->encode("a \xF0\x9F\xA6\x99", false);
  // "▁a", "▁", then the emoji as four <0xXX> byte tokens.
  ASSERT_EQ(ids.size(), 6u);
  StreamDecoder d(**tok);
  std::vector<std::string> chunks;
  for (int32_t id : ids) chunks.push_back(d.push(id));
  EXPECT_EQ(chunks, (std::vector<std::string>{" a", " ", "", "", "", "\xF0\x9F\xA6\x99"}));
  EXPECT_EQ(d.flush(), "");
}

}  // namespace
}  // namespace rs::engine
