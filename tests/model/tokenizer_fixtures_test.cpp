// Tokenizer against llama.cpp: for every fixture whose model is present, every text's
// ids (with and without BOS) and every token's piece must match exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "rs/engine/gguf.h"
#include "rs/engine/tokenizer.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

std::string to_hex(const std::string& bytes) {
  std::string out;
  char buf[3];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof(buf), "%02x", c);
    out += buf;
  }
  return out;
}

// The fixtures of the first set, and set2/'s F32 ones (its quantized files carry the same
// two tokenizers; their models are in the models' set2/).
std::vector<std::string> fixture_files() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(test::fixtures_dir(), ec)) {
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  }
  for (const char* name : {"llama-kq-f32.json", "qwen3-tiny-f32.json"}) {
    out.push_back(test::fixture_path(std::string("set2/") + name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_fixture(const std::string& fixture_file, int& n_checked) {
  const nlohmann::json fx = test::load_json(fixture_file);
  if (!fx.contains("model") || !fx.contains("tokenize")) return;
  const bool set2 = std::filesystem::path(fixture_file).parent_path().filename() == "set2";
  const std::string model = test::model_path((set2 ? "set2/" : "") + fx["model"].get<std::string>());
  if (!std::filesystem::exists(model)) return;
  SCOPED_TRACE(fixture_file);
  auto file = GgufFile::open(model);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto tok = Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.n_vocab(), fx["n_vocab"].get<int32_t>());
  EXPECT_EQ(t.bos(), fx["bos"].get<int32_t>());
  EXPECT_EQ(t.eos(), fx["eos"].get<int32_t>());
  EXPECT_TRUE(t.is_eog(t.eos()));
  for (const auto& entry : fx["tokenize"]) {
    const std::string text = entry["text"].get<std::string>();
    SCOPED_TRACE("text: '" + text + "'");
    const auto ids = entry["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(t.encode(text, true), entry["ids_with_special"].get<std::vector<int32_t>>());
    EXPECT_EQ(t.encode(text, false), ids);
    const auto pieces = entry["pieces_hex"].get<std::vector<std::string>>();
    ASSERT_EQ(pieces.size(), ids.size());
    std::string joined;
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(to_hex(t.piece(ids[i])), pieces[i]) << "id " << ids[i];
      joined += t.piece(ids[i]);
    }
    EXPECT_EQ(t.decode(ids), joined);
    // Pieces concatenate back to the text, up to SentencePiece's dummy-prefix space.
    const std::string decoded = t.decode(ids);
    if (t.model_name() == "llama" && !text.empty()) {
      EXPECT_EQ(decoded, " " + text);
    } else {
      EXPECT_EQ(decoded, text);
    }
    ++n_checked;
  }
}

TEST(TokenizerFixtures, MatchLlamaCpp) {
  RS_REQUIRE_FILE(test::fixtures_dir());
  int n_checked = 0;
  for (const std::string& f : fixture_files()) check_fixture(f, n_checked);
  std::printf("checked %d fixture texts\n", n_checked);
  if (n_checked == 0) {
    if (test::in_ci()) FAIL() << "no fixture with its model found";
    GTEST_SKIP() << "no fixture with its model found";
  }
}

// Loading the 50k-merge vocabulary must be fast, and so must encoding a long text.
TEST(TokenizerFixtures, LoadAndEncodeSpeed) {
  for (const char* name : {"qwen2-gpt2vocab-f32.gguf", "llama-2-tiny-random.gguf"}) {
    const std::string model = test::model_path(name);
    RS_REQUIRE_FILE(model);
    auto file = GgufFile::open(model);
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    const auto t0 = std::chrono::steady_clock::now();
    auto tok = Tokenizer::from_gguf(**file);
    const auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(tok.ok()) << tok.status().to_string();
    std::string text;
    for (int i = 0; i < 2000; ++i) {
      text += "Once upon a time, there was a little girl named Lily. She said \"I can't!\" 12345 h\xC3\xA9llo \xF0\x9F\xA6\x99\n";
    }
    const std::vector<int32_t> ids = (*tok)->encode(text, false);
    const auto t2 = std::chrono::steady_clock::now();
    const double load_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    const double encode_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    std::printf("%s: load %.1f ms, encode %zu bytes -> %zu tokens in %.1f ms\n", name, load_ms, text.size(),
                ids.size(), encode_ms);
    EXPECT_LT(load_ms, 2000.0);  // loose: sanitizer builds are slow; Release is ~tens of ms
    EXPECT_EQ((*tok)->decode(ids), (*tok)->model_name() == "llama" ? " " + text : text);
  }
}

}  // namespace
}  // namespace rs::engine
