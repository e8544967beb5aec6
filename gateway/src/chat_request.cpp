// POST /v1/chat/completions: JSON -> ChatRequest, with a typed 400 for every bad field.
#include "chat_request.h"

#include "json_text.h"

namespace rs::gateway {

namespace {

std::string message_param(size_t index, const char* field = nullptr) {
  std::string p = "messages[" + std::to_string(index) + "]";
  if (field != nullptr) p += std::string(".") + field;
  return p;
}

// The role the template sees, or a 400.
std::optional<ApiError> message_role(const Json& message, size_t index, std::string& role) {
  const std::string param = message_param(index, "role");
  auto it = message.find("role");
  if (it == message.end() || it->is_null())
    return bad_request(param, "'" + param + "' is required", "missing_required_parameter");
  if (!it->is_string()) return wrong_type(param, "a string", *it);
  role = it->get<std::string>();
  if (role == "developer") role = "system";
  if (role == "system" || role == "user" || role == "assistant" || role == "tool")
    return std::nullopt;
  return bad_request(param, "'" + param +
                                "' must be one of system, developer, user, assistant, tool; got '" +
                                it->get<std::string>() + "'");
}

// An array of content parts: the texts of its "text" parts joined with "\n".
std::optional<ApiError> join_text_parts(const Json& parts, const std::string& param,
                                        std::string& out) {
  for (size_t j = 0; j < parts.size(); ++j) {
    const Json& part = parts[j];
    const std::string p = param + "[" + std::to_string(j) + "]";
    if (!part.is_object()) return wrong_type(p, "a content part object", part);
    auto type = part.find("type");
    if (type == part.end() || !type->is_string())
      return bad_request(p + ".type", "'" + p + ".type' must be a string", "invalid_type");
    if (*type != "text") {
      ApiError e = unsupported_field(p + ".type", "");
      e.message = "content parts of type '" + type->get<std::string>() + "' (" + p +
                  ") are not supported by this server: only 'text' parts";
      return e;
    }
    auto text = part.find("text");
    if (text == part.end() || !text->is_string())
      return bad_request(p + ".text", "'" + p + ".text' must be a string", "invalid_type");
    if (j > 0) out += "\n";
    out += text->get<std::string>();
  }
  return std::nullopt;
}

// content: a string, an array of text parts, or null (an assistant's tool calls).
std::optional<ApiError> message_content(const Json& message, size_t index, const std::string& role,
                                        Json& out) {
  const std::string param = message_param(index, "content");
  auto it = message.find("content");
  if (it == message.end() || it->is_null()) {
    if (role == "assistant" && field_given(message, "tool_calls")) {
      out = nullptr;
      return std::nullopt;
    }
    return bad_request(param, "'" + param + "' is required", "missing_required_parameter");
  }
  if (it->is_string()) {
    out = *it;
    return std::nullopt;
  }
  if (!it->is_array()) return wrong_type(param, "a string, an array of content parts or null", *it);
  std::string text;
  if (auto e = join_text_parts(*it, param, text)) return e;
  out = std::move(text);
  return std::nullopt;
}

// name, tool_calls (assistant only), tool_call_id (tool only): checked, passed as given.
std::optional<ApiError> check_passed_fields(const Json& message, size_t index,
                                            const std::string& role) {
  if (auto it = message.find("name"); it != message.end() && !it->is_null() && !it->is_string())
    return wrong_type(message_param(index, "name"), "a string", *it);
  if (auto it = message.find("tool_calls"); it != message.end() && !it->is_null()) {
    const std::string param = message_param(index, "tool_calls");
    if (role != "assistant")
      return bad_request(param, "only assistant messages have 'tool_calls' (" + param + ")");
    if (!it->is_array()) return wrong_type(param, "an array", *it);
    for (const Json& call : *it) {
      if (!call.is_object()) return wrong_type(param + "[]", "an object", call);
    }
  }
  if (auto it = message.find("tool_call_id"); it != message.end() && !it->is_null()) {
    const std::string param = message_param(index, "tool_call_id");
    if (role != "tool")
      return bad_request(param, "only tool messages have 'tool_call_id' (" + param + ")");
    if (!it->is_string()) return wrong_type(param, "a string", *it);
  }
  return std::nullopt;
}

std::optional<ApiError> parse_messages(const Json& body, ChatRequest& out) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null())
    return bad_request("messages", "'messages' is required", "missing_required_parameter");
  if (!it->is_array()) return wrong_type("messages", "an array of messages", *it);
  if (it->empty()) return bad_request("messages", "'messages' must not be empty");
  Json messages = Json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    Json m;
    if (auto e = normalize_message((*it)[i], i, m)) return e;
    messages.push_back(std::move(m));
  }
  out.messages = json_text(messages);
  return std::nullopt;
}

std::optional<ApiError> parse_tools(const Json& body, ChatRequest& out) {
  auto it = body.find("tools");
  if (it != body.end() && !it->is_null()) {
    if (!it->is_array()) return wrong_type("tools", "an array of tools", *it);
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_object())
        return wrong_type("tools[" + std::to_string(i) + "]", "an object", (*it)[i]);
    }
    if (!it->empty()) out.tools = json_text(*it);
  }
  // We never parse tool calls out of the output: only choices that leave it to the model.
  for (const char* name : {"tool_choice", "function_call"}) {
    auto c = body.find(name);
    if (c == body.end() || c->is_null()) continue;
    if (c->is_string() && (*c == "none" || *c == "auto")) continue;
    if (c->is_string() || c->is_object())
      return unsupported_field(name, "other than \"none\" or \"auto\"");
    return wrong_type(name, "a string or an object", *c);
  }
  if (field_given(body, "functions")) return unsupported_field("functions", "(use tools)");
  return std::nullopt;
}

std::optional<ApiError> parse_template_fields(const Json& body, ChatRequest& out) {
  auto it = body.find("chat_template_kwargs");
  if (it != body.end() && !it->is_null()) {
    if (!it->is_object()) return wrong_type("chat_template_kwargs", "an object", *it);
    if (!it->empty()) out.kwargs = json_text(*it);
  }
  if (auto e = bool_field(body, "add_generation_prompt", out.add_generation_prompt)) return e;
  if (field_given(body, "chat_template"))
    return unsupported_field("chat_template", "(a template per request)");
  bool continue_final = false;
  if (auto e = bool_field(body, "continue_final_message", continue_final)) return e;
  if (continue_final) return unsupported_field("continue_final_message", "= true");
  return std::nullopt;
}

// {"<key>": "text"} (key given) or ["text"]: what every request gets anyway.
bool is_text_only(const Json& v, const char* key) {
  if (key == nullptr) return v.is_array() && v.size() == 1 && v[0] == "text";
  return v.is_object() && v.size() == 1 && v.contains(key) && v[key] == "text";
}

// Chat-only fields we cannot honour with the value given.
std::optional<ApiError> refuse_chat_only(const Json& body) {
  if (field_given(body, "response_format") && !is_text_only(body["response_format"], "type"))
    return unsupported_field("response_format", "other than {\"type\": \"text\"}");
  if (field_given(body, "modalities") && !is_text_only(body["modalities"], nullptr))
    return unsupported_field("modalities", "other than [\"text\"]");
  for (const char* name : {"audio", "prediction", "web_search_options"}) {
    if (field_given(body, name)) return unsupported_field(name, "");
  }
  return std::nullopt;
}

// logprobs: a boolean; top_logprobs: alternatives per token (0..20), which need logprobs
// (as OpenAI). max_tokens 0 (read by parse_generation_params) is refused here.
std::optional<ApiError> parse_chat_logprobs(const Json& body, ChatRequest& out) {
  if (auto e = bool_field(body, "logprobs", out.logprobs)) return e;
  int64_t top = 0;
  if (auto e = integer_field(body, "top_logprobs", 0, 20, top)) return e;
  if (top > 0 && !out.logprobs) {
    return bad_request("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  }
  out.top_logprobs = static_cast<uint32_t>(top);
  if (out.max_tokens == 0) return bad_request("max_tokens", "'max_tokens' must be at least 1");
  return std::nullopt;
}

std::optional<ApiError> check_sizes(const RequestLimits& limits, ChatRequest& out) {
  const size_t bytes = out.messages.size() + out.tools.size() + out.kwargs.size();
  if (bytes > limits.max_prompt_bytes) {
    return too_large("messages, tools and chat_template_kwargs of " + std::to_string(bytes) +
                     " bytes are over the limit of " + std::to_string(limits.max_prompt_bytes));
  }
  if (out.n > limits.max_choices) {
    return bad_request("n", "n must be at most " + std::to_string(limits.max_choices));
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> normalize_message(const Json& message, size_t index, Json& out) {
  if (!message.is_object()) return wrong_type(message_param(index), "an object", message);
  std::string role;
  if (auto e = message_role(message, index, role)) return e;
  Json content;
  if (auto e = message_content(message, index, role, content)) return e;
  if (auto e = check_passed_fields(message, index, role)) return e;
  out = Json::object();
  bool has_content = false;
  for (const auto& [key, value] : message.items()) {
    if (key == "role") {
      out["role"] = role;
    } else if (key == "content") {
      out["content"] = content;
      has_content = true;
    } else if ((key == "name" || key == "tool_calls" || key == "tool_call_id") &&
               !value.is_null()) {
      out[key] = value;
    }
  }
  if (!has_content) out["content"] = nullptr;
  return std::nullopt;
}

std::optional<ApiError> parse_chat_request(std::string_view body, const RequestLimits& limits,
                                           ChatRequest& out) {
  Json parsed;
  if (auto e = parse_body_object(body, limits, parsed)) return e;
  out.max_tokens = limits.max_tokens;
  if (auto e = parse_generation_params(parsed, limits, out)) return e;
  if (auto e = parse_messages(parsed, out)) return e;
  if (auto e = parse_tools(parsed, out)) return e;
  if (auto e = parse_template_fields(parsed, out)) return e;
  if (auto e = refuse_chat_only(parsed)) return e;
  if (auto e = parse_chat_logprobs(parsed, out)) return e;
  // OpenAI's prompt-cache hint routes like our affinity_key (KV-cache reuse).
  if (out.affinity_key.empty()) {
    if (auto e = string_field(parsed, "prompt_cache_key", 256, out.affinity_key)) return e;
  }
  return check_sizes(limits, out);
}

}  // namespace rs::gateway
