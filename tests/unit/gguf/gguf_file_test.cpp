#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "rs/engine/gguf.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

std::vector<uint8_t> small_file() {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 2);
  w.add_f32("llama.rope.freq_base", 10000.0f);
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_string_array("tokenizer.ggml.tokens", {"a", "b", "c"});
  w.add_f32_array("tokenizer.ggml.scores", {0.5f, -1.0f, 2.0f});
  w.add_i32_array("tokenizer.ggml.token_type", {1, 1, 3});
  std::vector<uint8_t> bytes(4 * 3 * sizeof(float));
  for (size_t i = 0; i < 12; ++i) {
    float v = static_cast<float>(i);
    std::memcpy(bytes.data() + 4 * i, &v, 4);
  }
  w.add_tensor("w", {4, 3}, GgmlType::kF32, bytes);
  w.add_tensor_lazy("z", {32, 2}, GgmlType::kQ8_0, [](uint8_t* dst) { std::memset(dst, 7, 68); });
  return w.serialize();
}

TEST(GgufWriter, RoundTrip) {
  std::vector<uint8_t> buf = small_file();
  auto f = GgufFile::from_buffer(buf);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ(*(*f)->get_string("general.architecture"), "llama");
  EXPECT_EQ(*(*f)->get_int("llama.block_count"), 2);
  EXPECT_FLOAT_EQ(static_cast<float>(*(*f)->get_float("llama.rope.freq_base")), 10000.0f);
  EXPECT_TRUE(*(*f)->get_bool("tokenizer.ggml.add_bos_token"));
  auto tokens = (*f)->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[2], "c");
  EXPECT_EQ((*(*f)->get_float_array("tokenizer.ggml.scores"))[2], 2.0f);
  EXPECT_EQ((*(*f)->get_int_array("tokenizer.ggml.token_type"))[2], 3);
  const TensorInfo* t = (*f)->find_tensor("w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->n_elements(), 12);
  EXPECT_EQ(t->n_rows(), 3);
  float v = 0;
  std::memcpy(&v, t->data + 4 * 5, 4);
  EXPECT_EQ(v, 5.0f);
  const TensorInfo* z = (*f)->find_tensor("z");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->n_bytes, 68u);
  EXPECT_EQ(z->data[67], 7);
  EXPECT_EQ((z->data - buf.data()) % 32, 0);
}

TEST(GgufFile, TypedGetterErrors) {
  std::vector<uint8_t> buf = small_file();
  auto f = GgufFile::from_buffer(buf);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->get_int("missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*f)->get_int("general.architecture").status().code(), StatusCode::kCorrupt);
  EXPECT_EQ((*f)->get_string_array("llama.block_count").status().code(), StatusCode::kCorrupt);
  EXPECT_EQ((*f)->get_int_or("missing", 9), 9);
}

TEST(GgufFile, EveryTruncationIsAnError) {
  std::vector<uint8_t> buf = small_file();
  for (size_t n = 0; n < buf.size(); ++n) {
    std::vector<uint8_t> cut(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    auto f = GgufFile::from_buffer(cut);
    // The final tensor's padding is not needed, so only shorter-than-data cuts must fail.
    if (n < buf.size() - 28) {
      EXPECT_FALSE(f.ok()) << "cut at " << n;
    }
  }
}

TEST(GgufFile, BadMagicAndVersion) {
  std::vector<uint8_t> buf = small_file();
  buf[0] = 'X';
  EXPECT_EQ(GgufFile::from_buffer(buf).status().code(), StatusCode::kCorrupt);
  buf = small_file();
  buf[4] = 9;
  EXPECT_EQ(GgufFile::from_buffer(buf).status().code(), StatusCode::kUnsupported);
}

TEST(GgufFile, OpensRealModels) {
  for (const char* name : {"stories260K.gguf", "qwen2-gpt2vocab-q8_0.gguf", "llama-2-tiny-random.gguf"}) {
    std::string path = test::model_path(name);
    RS_REQUIRE_FILE(path);
    auto f = GgufFile::open(path);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_TRUE((*f)->get_string("general.architecture").ok());
    EXPECT_NE((*f)->find_tensor("token_embd.weight"), nullptr);
  }
}

TEST(GgufFile, MissingFileIsIoError) {
  auto f = GgufFile::open("/nonexistent/model.gguf");
  EXPECT_EQ(f.status().code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace rs::engine
