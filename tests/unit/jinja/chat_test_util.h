// Helpers shared by the chat-template tests: a fixture case -> ChatInput, and a readable
// report of where a rendering differs from the reference.
#pragma once

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "rs/engine/chat_template.h"
#include "test_paths.h"

namespace rs::engine::chat_test {

inline std::string chat_dir() {
  return rs::test::fixture_path("chat");
}

inline constexpr int64_t kFixtureNowMs = 1768435200000;  // 2026-01-15 00:00:00 UTC

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline ChatInput input_of(const nlohmann::ordered_json& c) {
  ChatInput in;
  in.messages_json = c["messages"].dump();
  in.tools_json = c["tools"].is_null() ? "" : c["tools"].dump();
  const auto& kw = c["template_kwargs"];
  in.kwargs_json = kw.is_null() || kw.empty() ? "" : kw.dump();
  in.add_generation_prompt = c["add_generation_prompt"].get<bool>();
  in.now_unix_ms = kFixtureNowMs;
  return in;
}

// Fixtures keep key order (dicts render in insertion order).
inline nlohmann::ordered_json load_ordered(const std::string& path) {
  return nlohmann::ordered_json::parse(read_file(path));
}

inline std::string escaped(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else {
      out += ch;
    }
  }
  return out;
}

// "" when equal, else where and how they differ.
inline std::string diff(const std::string& want, const std::string& got) {
  if (want == got) return "";
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  size_t line = 1 + static_cast<size_t>(std::count(
                        want.begin(), want.begin() + static_cast<std::ptrdiff_t>(i), '\n'));
  size_t from = i > 40 ? i - 40 : 0;
  std::ostringstream os;
  os << "differs at byte " << i << " (line " << line << "; want " << want.size() << " bytes, got "
     << got.size() << ")\n  want: ..." << escaped(want.substr(from, 100)) << "\n  got:  ..."
     << escaped(got.substr(from, 100));
  return os.str();
}

// Renders one fixture case; "" when it matches the reference.
// exact_errors: the error text must equal the reference's too.
inline std::string check_case(const std::string& source, const nlohmann::ordered_json& c,
                              bool exact_errors = true) {
  auto tpl = ChatTemplate::parse(source, "<s>", "</s>");
  bool want_error = !c["error"].is_null();
  if (!tpl.ok()) return want_error ? "" : "parse failed: " + tpl.status().message();
  auto out = (*tpl)->render(input_of(c));
  if (want_error) {
    // Not required to match Python's text, but they all do so far: keep it that way.
    if (out.ok()) return "rendered, but the reference raised: " + c["error"].get<std::string>();
    if (exact_errors && out.status().message() != c["error"].get<std::string>()) {
      return "error text differs:\n  want: " + c["error"].get<std::string>() +
             "\n  got:  " + out.status().message();
    }
    return "";
  }
  if (!out.ok()) return "render failed: " + out.status().message();
  return diff(c["output"].get<std::string>(), *out);
}

}  // namespace rs::engine::chat_test
