// Differential test: conversations beyond the fixtures (system + tools over several turns,
// text-part content arrays, quotes/escapes/unicode, empty content, many turns, reasoning,
// parallel tool calls, template kwargs such as enable_thinking) rendered with every fixture
// template by us and by python3-jinja2 in transformers' environment (render_reference.py,
// one child process for all cases). Skips without python3 + jinja2 3.1.2, fails under CI=true.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "chat_test_util.h"
#include "rs/engine/chat_template.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

const char* kTools = R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a given city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"},
      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
      "required": ["city"]}}},
  {"type": "function", "function": {"name": "search_docs", "description": "Search the docs for \"quoted\" terms.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"},
      "limit": {"type": "integer", "description": "At most this many results"},
      "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["query", "limit"]}}}
])";

struct Conversation {
  const char* name;
  const char* messages;
  bool with_tools;
  const char* kwargs;  // JSON object or ""
};

const Conversation kConversations[] = {
    {"x-system-tools-multi-turn", R"([
      {"role": "system", "content": "You are a terse assistant."},
      {"role": "user", "content": "Hi!"},
      {"role": "assistant", "content": "Hello. What do you need?"},
      {"role": "user", "content": "Weather in Lyon, and search the docs for 'tides'."}])",
     true, ""},
    {"x-text-parts", R"([
      {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
      {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "text", "text": "the sea."}]}])",
     false, ""},
    {"x-quotes-escapes", R"([
      {"role": "user", "content": "She said \"it's\" <b>&amp;</b> \\ back\\slash\ttab\r\nCRLF {{ not jinja }} {% raw %}"},
      {"role": "assistant", "content": "Ünïcödé — ✓ 日本語 🚀 'single' \"double\""},
      {"role": "user", "content": "\u0001 control \u2028 separator \u00a0 nbsp"}])",
     false, ""},
    {"x-empty-content", R"([
      {"role": "user", "content": ""},
      {"role": "assistant", "content": ""},
      {"role": "user", "content": "?"}])",
     false, ""},
    {"x-many-turns", R"([
      {"role": "user", "content": "Turn 1"}, {"role": "assistant", "content": "Reply 1"},
      {"role": "user", "content": "Turn 2"}, {"role": "assistant", "content": "Reply 2"},
      {"role": "user", "content": "Turn 3"}, {"role": "assistant", "content": "Reply 3"},
      {"role": "user", "content": "Turn 4"}, {"role": "assistant", "content": "Reply 4"},
      {"role": "user", "content": "Turn 5"}, {"role": "assistant", "content": "Reply 5"},
      {"role": "user", "content": "Turn 6"}, {"role": "assistant", "content": "Reply 6"},
      {"role": "user", "content": "Turn 7"}])",
     false, ""},
    {"x-reasoning", R"([
      {"role": "user", "content": "2+2?"},
      {"role": "assistant", "content": "4", "reasoning_content": "Adding two and two."},
      {"role": "user", "content": "And 3+3?"}])",
     false, ""},
    {"x-parallel-tool-calls", R"([
      {"role": "system", "content": "Use tools when useful."},
      {"role": "user", "content": "Weather in Paris and Oslo?"},
      {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
        {"id": "call00002", "type": "function", "function": {"name": "search_docs", "arguments": {"query": "Oslo", "limit": 3, "tags": ["a", "b"]}}}]},
      {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "{\"temperature_c\": 22}"},
      {"role": "tool", "tool_call_id": "call00002", "name": "search_docs", "content": "[]"}])",
     true, ""},
    {"x-thinking-on", R"([
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Think about primes."}])",
     false, R"({"enable_thinking": true})"},
    {"x-thinking-off", R"([
      {"role": "user", "content": "Quick answer please."},
      {"role": "assistant", "content": "Sure."},
      {"role": "user", "content": "What is 7*6?"}])",
     false, R"({"enable_thinking": false, "reasoning_effort": "low"})"},
};

struct Case {
  std::string template_name;
  std::string conversation;
  ojson json;
};

std::vector<Case> build_cases(ojson& templates) {
  std::vector<Case> cases;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(chat_test::chat_dir())) {
    if (e.path().extension() == ".jinja") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string only = rs::test::env_or("RS_JINJA_DIFF_ONLY", "");  // debugging: one template
  for (const auto& path : files) {
    std::string name = path.stem().string();
    if (!only.empty() && name != only) continue;
    templates[name] = chat_test::read_file(path.string());
    for (const auto& conv : kConversations) {
      for (bool agp : {true, false}) {
        if (!agp && conv.kwargs[0] != '\0') continue;
        ojson c;
        c["template"] = name;
        c["messages"] = ojson::parse(conv.messages);
        c["tools"] = conv.with_tools ? ojson::parse(kTools) : ojson();
        c["add_generation_prompt"] = agp;
        c["template_kwargs"] = conv.kwargs[0] != '\0' ? ojson::parse(conv.kwargs) : ojson::object();
        cases.push_back({name, std::string(conv.name) + (agp ? "/agp" : "/noagp"), std::move(c)});
      }
    }
  }
  return cases;
}

// Runs render_reference.py once; the parsed reply, or null when unavailable.
ojson run_reference(const ojson& request, std::string& why) {
  fs::path script = fs::path(__FILE__).parent_path() / "render_reference.py";
  fs::path dir = fs::temp_directory_path() / ("rs_jinja_diff_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path in = dir / "request.json", out = dir / "reply.json";
  std::ofstream(in) << request.dump();
  std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::string cmd = "PYTHONHASHSEED=0 RINGSERVE_FIXTURES='" +
                    fs::absolute(rs::test::fixtures_dir()).string() + "' " + python + " '" +
                    script.string() + "' < '" + in.string() + "' > '" + out.string() + "' 2>&1";
  int rc = std::system(cmd.c_str());
  std::string reply = chat_test::read_file(out.string());
  fs::remove_all(dir);
  if (rc != 0) {
    why =
        "reference renderer unavailable (exit " + std::to_string(rc) + "): " + reply.substr(0, 300);
    return nullptr;
  }
  try {
    return ojson::parse(reply);
  } catch (const std::exception& e) {
    why = std::string("bad reference reply: ") + e.what();
    return nullptr;
  }
}

TEST(ChatDifferential, ExtraConversationsMatchJinja) {
  RS_REQUIRE_FILE(chat_test::chat_dir());
  ojson request;
  request["templates"] = ojson::object();
  std::vector<Case> cases = build_cases(request["templates"]);
  request["cases"] = ojson::array();
  for (const auto& c : cases) request["cases"].push_back(c.json);
  std::string why;
  ojson reply = run_reference(request, why);
  if (reply.is_null() || reply["jinja2"] != "3.1.2") {
    if (why.empty()) why = "jinja2 " + reply["jinja2"].dump() + " found, 3.1.2 needed";
    if (rs::test::in_ci()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  ASSERT_EQ(reply["results"].size(), cases.size());
  size_t failures = 0, errors = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const ojson& want = reply["results"][i];
    ojson fixture_like = cases[i].json;
    fixture_like["output"] = want["output"];
    fixture_like["error"] = want["error"];
    errors += want["error"].is_null() ? 0 : 1;
    std::string source = request["templates"][cases[i].template_name].get<std::string>();
    std::string problem = chat_test::check_case(source, fixture_like, /*exact_errors=*/false);
    if (!problem.empty() && ++failures <= 40) {
      ADD_FAILURE() << cases[i].template_name << " / " << cases[i].conversation << ": " << problem;
    }
  }
  EXPECT_EQ(failures, 0u) << "of " << cases.size() << " cases";
  std::printf("[ differential ] %zu cases (%zu reference errors), %zu mismatches\n", cases.size(),
              errors, failures);
}

}  // namespace
}  // namespace rs::engine
