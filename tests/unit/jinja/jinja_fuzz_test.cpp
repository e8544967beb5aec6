// Hostile input never crashes the renderer or hangs it: the 65 real templates mutated at
// random (bytes flipped, spliced, cut) are parsed and, when they parse, rendered with
// mutated conversations; every outcome is a template or an error. Runs under ASan+UBSan in
// CI. RS_STRESS_SECONDS scales nothing here: the budget is a fixed number of cases.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "chat_test_util.h"
#include "rs/engine/chat_template.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

std::vector<std::string> fixture_templates() {
  std::vector<std::string> out;
  const std::string dir = rs::test::fixture_path("chat");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".jinja") out.push_back(chat_test::read_file(e.path().string()));
  }
  return out;
}

// One random edit of `s`: a byte changed, a slice of `donor` spliced in, or a cut.
std::string mutate(std::mt19937& rng, std::string s, const std::string& donor) {
  static const char kTokens[] = "{}%#-+()[]'\".|~=!<>,:*/ \n";
  const int n_edits = 1 + static_cast<int>(rng() % 4);
  for (int k = 0; k < n_edits && !s.empty(); ++k) {
    const size_t at = rng() % s.size();
    switch (rng() % 4) {
      case 0:
        s[at] = kTokens[rng() % (sizeof(kTokens) - 1)];
        break;
      case 1:
        s[at] = static_cast<char>(rng() & 0xFF);
        break;
      case 2: {
        if (donor.empty()) break;
        const size_t from = rng() % donor.size();
        s.insert(at, donor.substr(from, 1 + rng() % 64));
        break;
      }
      default:
        s.erase(at, 1 + rng() % 32);
        break;
    }
  }
  return s;
}

const char* const kFuzzConversations[] = {
    R"([{"role": "user", "content": "Hi"}])",
    R"([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}])",
    R"([{"role": "assistant", "content": null, "tool_calls": [{"id": "call12345", "type": "function",
        "function": {"name": "f", "arguments": {"x": [1, 2.5, null, true, {"y": "z"}]}}}]},
        {"role": "tool", "tool_call_id": "call12345", "content": "{}"}])",
    R"([{"role": 7, "content": ["a", {"type": "text", "text": "b"}]}, {}, [], "x", null])",
    R"({"not": "a list"})",
    R"([{"role": "user", "content": "\u0000\ud83c\udf0d \\ \" ' {{ x }} {% if %}"}])",
};

TEST(JinjaFuzz, MutatedTemplatesAndConversationsNeverCrash) {
  const std::vector<std::string> templates = fixture_templates();
  if (templates.empty()) {
    if (rs::test::in_ci()) FAIL() << "no templates under " << rs::test::fixture_path("chat");
    GTEST_SKIP() << "no chat fixtures";
  }
  std::mt19937 rng(20261202);
  int parsed = 0, rendered = 0;
  constexpr int kCases = 3000;
  for (int i = 0; i < kCases; ++i) {
    const std::string& base = templates[rng() % templates.size()];
    const std::string& donor = templates[rng() % templates.size()];
    const std::string source = i % 10 == 0 ? base : mutate(rng, base, donor);
    auto tmpl = ChatTemplate::parse(source, "<s>", "</s>");
    if (!tmpl.ok()) {
      EXPECT_EQ(tmpl.status().code(), StatusCode::kInvalidArgument) << tmpl.status().to_string();
      continue;
    }
    ++parsed;
    ChatInput in;
    const std::string conversation = kFuzzConversations[rng() % std::size(kFuzzConversations)];
    in.messages_json = rng() % 4 == 0 ? mutate(rng, conversation, conversation) : conversation;
    in.tools_json =
        rng() % 2 == 0 ? R"([{"type": "function", "function": {"name": "get_weather"}}])" : "";
    in.kwargs_json =
        rng() % 3 == 0 ? R"({"enable_thinking": true, "tools_in_user_message": false})" : "";
    in.add_generation_prompt = rng() % 2 == 0;
    in.now_unix_ms = chat_test::kFixtureNowMs;
    auto text = (*tmpl)->render(in);
    if (text.ok()) {
      ++rendered;
    } else {
      EXPECT_EQ(text.status().code(), StatusCode::kInvalidArgument) << text.status().to_string();
    }
  }
  EXPECT_GT(parsed, kCases / 10);  // the mutations leave many templates parseable
  EXPECT_GT(rendered, 0);
}

// Inputs built to exhaust: deep nesting, huge repetition, runaway recursion. Each is an
// error (or a bounded result), never a crash or a hang.
TEST(JinjaFuzz, ResourceExhaustionIsAnError) {
  const std::string deep_json = std::string(100000, '[') + std::string(100000, ']');
  auto plain = ChatTemplate::parse("{{ messages }}", "", "");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->render(ChatInput{.messages_json = deep_json}).ok());

  const char* const kHostile[] = {
      "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",  // no base case
      "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",  // 1e10
                                                                                            // steps
      "{% set s = 'x' * 1000000 %}{{ s * 1000 }}",  // a 1 GB string
      "{{ ((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))) }}",
      "{{ [1] * 100000000 }}",
  };
  for (const char* source : kHostile) {
    auto tmpl = ChatTemplate::parse(source, "", "");
    if (!tmpl.ok()) continue;  // refused at parse is fine too
    auto text = (*tmpl)->render(ChatInput{.messages_json = "[]"});
    if (text.ok()) {
      EXPECT_LE(text->size(), 16u << 20) << source;
    } else {
      EXPECT_EQ(text.status().code(), StatusCode::kInvalidArgument) << source;
    }
  }
  const std::string deep_expr = std::string(10000, '(') + "1" + std::string(10000, ')');
  EXPECT_FALSE(ChatTemplate::parse("{{ " + deep_expr + " }}", "", "").ok());
  std::string deep_blocks;
  for (int i = 0; i < 5000; ++i) deep_blocks += "{% if true %}";
  for (int i = 0; i < 5000; ++i) deep_blocks += "{% endif %}";
  EXPECT_FALSE(ChatTemplate::parse(deep_blocks, "", "").ok());
}

}  // namespace
}  // namespace rs::engine
