// libFuzzer target: the chat-template renderer (our Jinja2 engine). Selector bit 0 = 0: the
// input after the selector is a template source, parsed and rendered with a fixed
// conversation (tools and kwargs included). Bit 0 = 1: a real template (fixtures chat/*.jinja,
// loaded once; the selector's other bits pick it) renders fuzzed messages, tools and kwargs
// JSON. Every outcome must be a text or an error, within the renderer's step/output limits.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_paths.h"
#include "rs/engine/chat_template.h"

namespace {

using rs::engine::ChatInput;
using rs::engine::ChatTemplate;

std::vector<std::shared_ptr<const ChatTemplate>>& templates() {
  static std::vector<std::shared_ptr<const ChatTemplate>> all;
  return all;
}

constexpr const char* kMessages =
    R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi <b>there</b>"},)"
    R"({"role":"assistant","content":"Hello!","tool_calls":[{"type":"function","function":)"
    R"({"name":"get_time","arguments":{"tz":"UTC"}}}]},{"role":"tool","content":"12:00",)"
    R"("tool_call_id":"c1"},{"role":"user","content":[{"type":"text","text":"and now?"}]}])";
constexpr const char* kTools =
    R"([{"type":"function","function":{"name":"get_time","description":"the time",)"
    R"("parameters":{"type":"object","properties":{"tz":{"type":"string"}}}}}])";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string dir = rs::fuzz::fixtures_dir() + "/chat";
  if (!rs::fuzz::require_file(dir)) return 0;
  std::vector<std::filesystem::path> paths;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".jinja") paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    auto t = ChatTemplate::parse(ss.str(), "<s>", "</s>");
    if (t.ok()) templates().push_back(*t);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (64u << 10)) return 0;
  FuzzedDataProvider in(data, size);
  const uint8_t selector = in.ConsumeIntegral<uint8_t>();
  if ((selector & 1) == 0 || templates().empty()) {
    auto t = ChatTemplate::parse(in.ConsumeRemainingBytesAsString(), "<s>", "</s>");
    if (!t.ok()) return 0;
    ChatInput input{.messages_json = kMessages, .tools_json = kTools,
                    .kwargs_json = R"({"enable_thinking":false})",
                    .add_generation_prompt = (selector & 2) != 0, .now_unix_ms = 1700000000000};
    (void)(*t)->render(input);
    return 0;
  }
  const auto& t = templates()[(selector >> 1) % templates().size()];
  ChatInput input;
  input.add_generation_prompt = true;
  input.now_unix_ms = 1700000000000;
  input.tools_json = in.ConsumeRandomLengthString(1024);
  input.kwargs_json = in.ConsumeRandomLengthString(256);
  input.messages_json = in.ConsumeRemainingBytesAsString();
  (void)t->render(input);
  return 0;
}
