// ChatTemplate: a model's chat template (the Jinja2 text of a GGUF's tokenizer.chat_template,
// or a file), parsed once and rendered as Hugging Face transformers' apply_chat_template does
// (python3-jinja2's ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loop controls,
// the {% generation %} tag, transformers' tojson, raise_exception, strftime_now). No I/O.
// Immutable after parse: any thread may render concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rs/core/result.h"

namespace rs::engine {

// One rendering's variables. JSON texts are parsed with key order kept (dicts print and
// iterate in insertion order, as in Python).
struct ChatInput {
  std::string messages_json;  // a JSON array of message objects (OpenAI form); required
  std::string tools_json;     // a JSON array; "" or "null": `tools` is None
  std::string kwargs_json;    // a JSON object of extra variables ("" = none); they
                              // override bos_token / eos_token, as in transformers
  bool add_generation_prompt = true;
  int64_t now_unix_ms = 0;  // strftime_now's clock, read as UTC
};

class ChatTemplate {
 public:
  // Parses the whole template. Unsupported syntax (a statement, filter, test or operator the
  // renderer lacks) is an error here naming it and its line, never a silent miss at render.
  // bos_token / eos_token: the variables transformers passes from the tokenizer.
  static Result<std::shared_ptr<const ChatTemplate>> parse(std::string_view source,
                                                           std::string bos_token,
                                                           std::string eos_token);
  ~ChatTemplate();
  ChatTemplate(const ChatTemplate&) = delete;
  ChatTemplate& operator=(const ChatTemplate&) = delete;

  // The prompt text, or invalid_argument: bad JSON input, raise_exception's message, an
  // undefined value used, list.append refused by the sandbox, a type error...
  Result<std::string> render(const ChatInput& input) const;

  const std::string& source() const;
  const std::string& bos_token() const;
  const std::string& eos_token() const;

  struct Impl;

 private:
  explicit ChatTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::engine
