// `ringserve-model chat (MODEL.gguf | --template FILE.jinja) --messages JSON ...`: the prompt
// a chat job gets (the rendering, or with --ids its token ids), or the error (exit 1).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "commands.h"
#include "gguf_util.h"
#include "rs/engine/chat_template.h"
#include "rs/engine/model.h"

namespace rs::tool {
namespace {

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kNotFound, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A JSON argument given inline, or as @FILE.
Result<std::string> json_arg(const std::string& value) {
  if (!value.empty() && value.front() == '@') return read_text(value.substr(1));
  return value;
}

Result<engine::ChatInput> chat_input(const ChatOptions& o) {
  engine::ChatInput in;
  RS_ASSIGN_OR_RETURN(in.messages_json, json_arg(o.messages));
  RS_ASSIGN_OR_RETURN(in.tools_json, json_arg(o.tools));
  RS_ASSIGN_OR_RETURN(in.kwargs_json, json_arg(o.kwargs));
  in.add_generation_prompt = o.add_generation_prompt;
  in.now_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return in;
}

void print_ids(const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) out.append(out.empty() ? "" : " ").append(std::to_string(id));
  std::printf("%s\n", out.c_str());
}

// Without a model: the template alone (bos/eos as given).
int render_template_only(const ChatOptions& o, const engine::ChatInput& in) {
  if (o.ids) return fail("chat: --ids needs a model file (its tokenizer)");
  auto source = read_text(o.template_file);
  if (!source.ok()) return fail("chat: --template", source.status());
  auto tmpl =
      engine::ChatTemplate::parse(*source, o.bos_token.value_or(""), o.eos_token.value_or(""));
  if (!tmpl.ok()) return fail("chat: " + o.template_file, tmpl.status());
  auto text = (*tmpl)->render(in);
  if (!text.ok()) return fail("chat", text.status());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

}  // namespace

int run_chat(const ChatOptions& o) {
  if (o.file.empty() && o.template_file.empty())
    return fail("chat: give a model file or --template FILE");
  auto in = chat_input(o);
  if (!in.ok()) return fail("chat", in.status());
  if (o.file.empty()) return render_template_only(o, *in);
  engine::ModelOptions options;
  if (!o.template_file.empty()) {
    auto source = read_text(o.template_file);
    if (!source.ok()) return fail("chat: --template", source.status());
    options.chat_template = std::move(source).value();
  }
  auto model = engine::Model::load(o.file, options);
  if (!model.ok()) return fail(o.file, model.status());
  const engine::ChatTemplate* tmpl = (*model)->chat_template();
  if (tmpl == nullptr) return fail("chat: " + o.file + ": " + (*model)->chat_template_error());
  if (o.ids) {
    if (o.bos_token || o.eos_token)
      return fail("chat: --ids renders with the model's own bos/eos tokens");
    auto ids = (*model)->chat_prompt(*in);
    if (!ids.ok()) return fail("chat", ids.status());
    print_ids(*ids);
    return 0;
  }
  std::shared_ptr<const engine::ChatTemplate> custom;
  if (o.bos_token || o.eos_token) {  // the model's template with other special tokens
    auto parsed =
        engine::ChatTemplate::parse(tmpl->source(), o.bos_token.value_or(tmpl->bos_token()),
                                    o.eos_token.value_or(tmpl->eos_token()));
    if (!parsed.ok()) return fail("chat", parsed.status());
    custom = std::move(parsed).value();
    tmpl = custom.get();
  }
  auto text = tmpl->render(*in);
  if (!text.ok()) return fail("chat", text.status());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

}  // namespace rs::tool
