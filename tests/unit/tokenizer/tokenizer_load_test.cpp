// Tokenizer::from_gguf: every malformed or unsupported tokenizer.ggml.* is a clear error.
#include <gtest/gtest.h>

#include "rs/engine/tokenizer.h"
#include "tokenizer_test_util.h"

namespace rs::engine {
namespace {

ByteLevelVocab tiny_bpe() {  // a, b, ab, <|endoftext|>
  ByteLevelVocab v;
  v.tokens = {"a", "b", "ab", "<|endoftext|>"};
  v.token_types = {1, 1, 1, 3};
  v.merges = {"a b"};
  v.eos_id = 3;
  v.bos_id = 3;
  return v;
}

StatusCode load_code(const GgufWriter& w) {
  auto tok = test::load_tokenizer(w);
  return tok.ok() ? StatusCode::kOk : tok.status().code();
}

TEST(TokenizerLoad, TinyBpeWorks) {
  auto tok = test::load_tokenizer(test::byte_level_writer(tiny_bpe()));
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  EXPECT_EQ((*tok)->encode("abab", false), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ((*tok)->encode("ba", true), (std::vector<int32_t>{1, 0}));
  EXPECT_TRUE((*tok)->is_eog(3));
}

TEST(TokenizerLoad, UnknownPreTokenizerIsUnsupported) {
  auto tok = test::load_tokenizer(test::byte_level_writer(tiny_bpe(), "no-such-pre"));
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(tok.status().message().find("no-such-pre"), std::string::npos);
}

TEST(TokenizerLoad, MissingPreTokenizerMeansDefault) {
  auto tok = test::load_tokenizer(test::byte_level_writer(tiny_bpe(), ""));
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  EXPECT_EQ((*tok)->pre_name(), "default");
}

TEST(TokenizerLoad, UnknownModelIsUnsupported) {
  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "t5");
  w.add_string_array("tokenizer.ggml.tokens", {"a"});
  EXPECT_EQ(load_code(w), StatusCode::kUnsupported);
}

TEST(TokenizerLoad, MissingKeys) {
  GgufWriter no_model;
  no_model.add_string_array("tokenizer.ggml.tokens", {"a"});
  EXPECT_NE(load_code(no_model), StatusCode::kOk);

  GgufWriter no_tokens;
  no_tokens.add_string("tokenizer.ggml.model", "llama");
  EXPECT_NE(load_code(no_tokens), StatusCode::kOk);

  GgufWriter no_merges;
  no_merges.add_string("tokenizer.ggml.model", "gpt2");
  no_merges.add_string_array("tokenizer.ggml.tokens", {"a", "b"});
  EXPECT_EQ(load_code(no_merges), StatusCode::kCorrupt);
}

TEST(TokenizerLoad, SpecialIdOutOfRange) {
  ByteLevelVocab v = tiny_bpe();
  v.eos_id = 4;
  EXPECT_EQ(load_code(test::byte_level_writer(v)), StatusCode::kCorrupt);
  v = tiny_bpe();
  v.bos_id = 1000000;
  EXPECT_EQ(load_code(test::byte_level_writer(v)), StatusCode::kCorrupt);
}

TEST(TokenizerLoad, NoneIdIsAbsent) {
  GgufWriter w = test::spm_writer({"a"});
  w.add_u32("tokenizer.ggml.eot_token_id", 0xFFFFFFFFu);  // llama.cpp's "none"
  auto tok = test::load_tokenizer(w);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
}

TEST(TokenizerLoad, MismatchedArrayLengths) {
  ByteLevelVocab v = tiny_bpe();
  v.token_types.pop_back();
  EXPECT_EQ(load_code(test::byte_level_writer(v)), StatusCode::kCorrupt);

  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  w.add_f32_array("tokenizer.ggml.scores", {0, 0, 0});
  EXPECT_EQ(load_code(w), StatusCode::kCorrupt);
}

TEST(TokenizerLoad, BadTokenTypeOrByteToken) {
  ByteLevelVocab v = tiny_bpe();
  v.token_types[0] = 42;
  EXPECT_EQ(load_code(test::byte_level_writer(v)), StatusCode::kCorrupt);

  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "<0xZZ>"});
  w.add_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 6});
  EXPECT_EQ(load_code(w), StatusCode::kCorrupt);
}

TEST(TokenizerLoad, MalformedMergeOrWrongTypes) {
  ByteLevelVocab v = tiny_bpe();
  v.merges = {"ab"};
  EXPECT_EQ(load_code(test::byte_level_writer(v)), StatusCode::kCorrupt);

  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string("tokenizer.ggml.tokens", "not an array");
  EXPECT_NE(load_code(w), StatusCode::kOk);
}

TEST(TokenizerLoad, EmptyVocabulary) {
  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", {});
  EXPECT_EQ(load_code(w), StatusCode::kCorrupt);
}

TEST(TokenizerLoad, AddBosWithoutBos) {
  GgufWriter w;  // a 2-token llama vocabulary: the default BOS (1) exists, EOS (2) does not
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "a"});
  w.add_bool("tokenizer.ggml.add_eos_token", true);
  EXPECT_EQ(load_code(w), StatusCode::kCorrupt);
}

TEST(TokenizerLoad, SpmBasics) {
  auto tok = test::load_tokenizer(test::spm_writer({"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab"}));
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Tokenizer& t = **tok;
  const int32_t base = 3 + 256;  // pieces start after <unk>, <s>, </s> and the byte tokens
  EXPECT_EQ(t.model_name(), "llama");
  EXPECT_TRUE(t.adds_bos());
  EXPECT_EQ(t.encode("", true), std::vector<int32_t>{1});
  EXPECT_EQ(t.encode("", false), std::vector<int32_t>{});
  EXPECT_EQ(t.encode("ab", true), (std::vector<int32_t>{1, base + 5}));  // "▁ab"
  EXPECT_EQ(t.encode("a c", false), (std::vector<int32_t>{base + 3, base + 0, 3 + 'c'}));  // "▁a" "▁" <0x63>
  EXPECT_EQ(t.piece(base + 5), " ab");
  EXPECT_EQ(t.piece(3 + 0xE4), "\xE4");
  EXPECT_EQ(t.piece(1), "");
  EXPECT_EQ(t.piece(-5), "");
  EXPECT_TRUE(t.is_eog(2));
  EXPECT_FALSE(t.is_eog(1));
  EXPECT_EQ(t.decode(t.encode("a c", false)), " a c");
}

}  // namespace
}  // namespace rs::engine
