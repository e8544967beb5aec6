// ChatTemplate: the API boundary of the Jinja renderer. Parses once into a Program; each
// render builds the variables transformers passes (messages, tools, documents,
// add_generation_prompt, bos_token, eos_token, template kwargs) and runs an Evaluator.
// Every exception of the library is caught here and becomes a Status.
#include "rs/engine/chat_template.h"

#include <new>

#include "evaluator.h"
#include "json_io.h"
#include "parser.h"

namespace rs::engine {

using jinja::Value;

struct ChatTemplate::Impl {
  std::string source, bos, eos;
  std::unique_ptr<jinja::Program> program;
};

Result<std::shared_ptr<const ChatTemplate>> ChatTemplate::parse(std::string_view source,
                                                                std::string bos_token,
                                                                std::string eos_token) {
  auto impl = std::make_unique<Impl>();
  impl->source = std::string(source);
  impl->bos = std::move(bos_token);
  impl->eos = std::move(eos_token);
  try {
    impl->program = jinja::parse_program(source);
  } catch (const jinja::ParseError& e) {
    return invalid_argument("chat template: line " + std::to_string(e.line) + ": " + e.message);
  } catch (const jinja::RenderError& e) {
    return invalid_argument("chat template: " + e.message);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("chat template: out of memory while parsing");
  } catch (const std::exception& e) {
    return invalid_argument(std::string("chat template: ") + e.what());
  }
  return std::shared_ptr<const ChatTemplate>(new ChatTemplate(std::move(impl)));
}

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::~ChatTemplate() = default;

namespace {

Result<Value> parse_optional(const std::string& text, const char* what) {
  if (text.empty() || text == "null") return Value::none();
  auto v = jinja::parse_json(text);
  if (!v.ok()) return invalid_argument(std::string(what) + ": " + v.status().message());
  return std::move(v).value();
}

// The outermost scope: only names the template mentions are bound.
Result<jinja::FramePtr> make_globals(const jinja::Program& prog, const ChatInput& input,
                                     const std::string& bos, const std::string& eos) {
  auto messages = jinja::parse_json(input.messages_json);
  if (!messages.ok()) return invalid_argument("messages: " + messages.status().message());
  if (!messages->is_list()) return invalid_argument("messages must be a JSON array");
  RS_ASSIGN_OR_RETURN(Value tools, parse_optional(input.tools_json, "tools"));
  RS_ASSIGN_OR_RETURN(Value kwargs, parse_optional(input.kwargs_json, "template kwargs"));
  if (!kwargs.is_none() && !kwargs.is_dict())
    return invalid_argument("template kwargs must be a JSON object");
  auto frame = std::make_shared<jinja::Frame>();
  auto bind = [&](const std::string& name, Value v) {
    int id = prog.names.find(name);
    if (id >= 0) frame->set(id, std::move(v));
  };
  bind("messages", std::move(messages).value());
  bind("tools", std::move(tools));
  bind("documents", Value::none());
  bind("add_generation_prompt", Value::boolean(input.add_generation_prompt));
  bind("bos_token", Value::string(bos));
  bind("eos_token", Value::string(eos));
  if (kwargs.is_dict()) {
    for (const auto& [k, v] : kwargs.dict().items) {
      const std::string& key = k.str();
      if (key == "messages" || key == "tools" || key == "documents" ||
          key == "add_generation_prompt") {
        return invalid_argument("template kwargs: '" + key + "' is set by the request itself");
      }
      bind(key, v);
    }
  }
  return frame;
}

}  // namespace

Result<std::string> ChatTemplate::render(const ChatInput& input) const {
  try {
    RS_ASSIGN_OR_RETURN(jinja::FramePtr globals,
                        make_globals(*impl_->program, input, impl_->bos, impl_->eos));
    jinja::Evaluator ev(*impl_->program, jinja::Limits{}, input.now_unix_ms);
    return ev.render(std::move(globals));
  } catch (const jinja::RenderError& e) {
    return invalid_argument(e.message);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("chat template: out of memory while rendering");
  } catch (const std::exception& e) {
    return invalid_argument(std::string("chat template: ") + e.what());
  }
}

const std::string& ChatTemplate::source() const {
  return impl_->source;
}
const std::string& ChatTemplate::bos_token() const {
  return impl_->bos;
}
const std::string& ChatTemplate::eos_token() const {
  return impl_->eos;
}

}  // namespace rs::engine
