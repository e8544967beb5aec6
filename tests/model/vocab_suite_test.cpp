// llama.cpp's tokenizer test suite (fixtures/vocab, see its README.md): for each
// vocabulary-only GGUF, every text of NAME.gguf.inp tokenized as llama.cpp's
// tests/test-tokenizer-0 does (no BOS, special tokens not parsed) must give exactly the ids
// of the matching line of NAME.gguf.out.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rs/engine/gguf.h"
#include "rs/engine/tokenizer.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The texts of a .inp file: each one ends with a line "__ggml_vocab_test__".
std::vector<std::string> read_texts(const std::string& path) {
  const std::string all = read_text_file(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0;;) {
    const size_t next = all.find(sep, pos);
    if (next == std::string::npos) break;
    texts.push_back(all.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return texts;
}

// One line of ids per text.
std::vector<std::vector<int32_t>> read_ids(const std::string& path) {
  std::istringstream in(read_text_file(path));
  std::vector<std::vector<int32_t>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<int32_t> ids;
    for (long long id; words >> id;) ids.push_back(static_cast<int32_t>(id));
    out.push_back(std::move(ids));
  }
  return out;
}

std::string ids_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

std::string escaped(const std::string& text) {
  std::string s;
  for (unsigned char c : text) {
    if (c == '\n') {
      s += "\\n";
    } else if (c == '\t') {
      s += "\\t";
    } else if (c == '\r') {
      s += "\\r";
    } else {
      s += static_cast<char>(c);
    }
  }
  return s;
}

class VocabSuite : public testing::TestWithParam<std::string> {};

TEST_P(VocabSuite, MatchesLlamaCpp) {
  const std::string base = test::fixture_path("vocab/ggml-vocab-" + GetParam() + ".gguf");
  RS_REQUIRE_FILE(base);
  RS_REQUIRE_FILE(base + ".inp");
  RS_REQUIRE_FILE(base + ".out");
  auto file = GgufFile::open(base);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto tok = Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();

  const std::vector<std::string> texts = read_texts(base + ".inp");
  const std::vector<std::vector<int32_t>> expected = read_ids(base + ".out");
  ASSERT_FALSE(texts.empty());
  ASSERT_EQ(texts.size(), expected.size()) << "texts and id lines differ in number";
  size_t passed = 0;
  int shown = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> got = (*tok)->encode(texts[i], /*add_special=*/false, /*parse_special=*/false);
    if (got == expected[i]) {
      ++passed;
      continue;
    }
    if (shown++ < 5) {
      ADD_FAILURE() << GetParam() << " text " << i << ": '" << escaped(texts[i]) << "'\n  expected: "
                    << ids_string(expected[i]) << "\n  got:      " << ids_string(got);
    }
  }
  std::printf("%s: %zu/%zu texts pass\n", GetParam().c_str(), passed, texts.size());
  EXPECT_EQ(passed, texts.size());
}

INSTANTIATE_TEST_SUITE_P(Vocab, VocabSuite,
                         testing::Values("bert-bge", "deepseek-coder", "deepseek-llm", "falcon", "gpt-2",
                                         "llama-spm", "mpt", "phi-3", "refact", "starcoder"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) c = (c == '-') ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace rs::engine
