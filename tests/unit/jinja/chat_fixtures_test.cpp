// Every case of every chat-template fixture (shared/fixtures/chat: real templates rendered by
// python3-jinja2 3.1.2 in transformers' environment): byte-identical output, or an error where
// the reference raised. One test per template; failures show the first differing position.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat_test_util.h"
#include "rs/engine/chat_template.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(chat_test::chat_dir(), ec)) {
    if (entry.path().extension() == ".jinja") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Every case of one template: byte-identical output, or an error where the reference errs.
class ChatFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatFixture, RendersLikeTransformers) {
  const std::string base = GetParam();
  const std::string source = chat_test::read_file(chat_test::chat_dir() + "/" + base + ".jinja");
  nlohmann::ordered_json fixture =
      chat_test::load_ordered(chat_test::chat_dir() + "/" + base + ".json");
  for (const auto& c : fixture["cases"]) {
    const std::string problem = chat_test::check_case(source, c);
    const std::string label =
        c["name"].get<std::string>() + (c["add_generation_prompt"].get<bool>() ? "/agp" : "/noagp");
    if (!problem.empty()) ADD_FAILURE() << base << " / " << label << ": " << problem;
  }
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  std::replace_if(
      n.begin(), n.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return n;
}

INSTANTIATE_TEST_SUITE_P(Templates, ChatFixture, ::testing::ValuesIn(fixture_names()), test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ChatFixture);

TEST(ChatFixtures, CoverAllCases) {
  RS_REQUIRE_FILE(chat_test::chat_dir());
  size_t cases = 0, errors = 0, templates = 0;
  for (const auto& base : fixture_names()) {
    ++templates;
    nlohmann::ordered_json fixture =
        chat_test::load_ordered(chat_test::chat_dir() + "/" + base + ".json");
    for (const auto& c : fixture["cases"]) {
      ++cases;
      errors += c["error"].is_null() ? 0 : 1;
    }
  }
  EXPECT_EQ(templates, 65u);
  EXPECT_EQ(cases, 826u);
  EXPECT_EQ(errors, 104u);
}

}  // namespace
}  // namespace rs::engine
