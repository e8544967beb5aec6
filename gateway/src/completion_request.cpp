// POST /v1/completions: JSON -> CompletionRequest, with a typed 400 for every bad field.
#include "completion_request.h"

#include <cstdint>

namespace rs::gateway {

namespace {

// One prompt of token ids: a non-empty array of integers in [0, 2^31).
std::optional<ApiError> parse_token_ids(const Json& ids, const RequestLimits& limits,
                                        std::vector<int32_t>& out) {
  if (ids.empty()) return bad_request("prompt", "a prompt of token ids must not be empty");
  if (ids.size() > limits.max_prompt_tokens) {
    return too_large("prompt of " + std::to_string(ids.size()) + " token ids is over the limit of " +
                     std::to_string(limits.max_prompt_tokens));
  }
  for (const Json& id : ids) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      return bad_request("prompt", "token ids must be integers in [0, 2147483647], got " + id.dump());
    }
    out.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  return std::nullopt;
}

// prompt: a string, an array of strings, an array of token ids, or an array of arrays of
// token ids (OpenAI's four forms; strings and id arrays may not be mixed).
std::optional<ApiError> parse_prompt(const Json& body, const RequestLimits& limits,
                                     CompletionRequest& out) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null())
    return bad_request("prompt", "'prompt' is required", "missing_required_parameter");
  const char* kForms = "a string, an array of strings, an array of token ids or an array of arrays of token ids";
  if (it->is_string()) {
    out.prompts = {it->get<std::string>()};
  } else if (it->is_array() && !it->empty() && (*it)[0].is_number()) {
    out.prompt_ids.emplace_back();
    if (auto e = parse_token_ids(*it, limits, out.prompt_ids.back())) return e;
  } else if (it->is_array() && !it->empty() && (*it)[0].is_array()) {
    for (const Json& p : *it) {
      if (!p.is_array()) return wrong_type("prompt", kForms, p);
      out.prompt_ids.emplace_back();
      if (auto e = parse_token_ids(p, limits, out.prompt_ids.back())) return e;
    }
  } else if (it->is_array() && !it->empty()) {
    for (const Json& p : *it) {
      if (!p.is_string()) return wrong_type("prompt", kForms, p);
      out.prompts.push_back(p.get<std::string>());
    }
  } else {
    return wrong_type("prompt", kForms, *it);
  }
  if (!out.prompt_ids.empty()) out.prompts.assign(out.prompt_ids.size(), std::string());
  for (const auto& p : out.prompts) {
    if (p.size() > limits.max_prompt_bytes) {
      return too_large("prompt of " + std::to_string(p.size()) + " bytes is over the limit of " +
                       std::to_string(limits.max_prompt_bytes));
    }
  }
  return std::nullopt;
}

// Completions-only fields we cannot honour with the value given.
std::optional<ApiError> refuse_completion_only(const Json& body) {
  for (const char* name : {"response_format", "tools", "tool_choice", "suffix"}) {
    if (field_given(body, name)) return unsupported_field(name, "");
  }
  if (field_given(body, "best_of") &&
      !(body["best_of"].is_number_integer() && body["best_of"].get<int64_t>() == 1)) {
    return unsupported_field("best_of", "> 1");
  }
  return std::nullopt;
}

// logprobs: an integer (0 = the chosen token only, N = N alternatives too, at most 5) or a
// boolean (true = 0).
std::optional<ApiError> parse_completion_logprobs(const Json& body, CompletionRequest& out) {
  int64_t logprobs = -1;
  auto it = body.find("logprobs");
  if (it != body.end() && it->is_boolean()) {
    logprobs = it->get<bool>() ? 0 : -1;
  } else if (auto e = integer_field(body, "logprobs", 0, 5, logprobs)) {
    return e;
  }
  out.logprobs = logprobs >= 0;
  out.top_logprobs = logprobs > 0 ? static_cast<uint32_t>(logprobs) : 0;
  return std::nullopt;
}

// echo (a boolean), and max_tokens 0 only with it.
std::optional<ApiError> parse_echo(const Json& body, CompletionRequest& out) {
  if (auto e = bool_field(body, "echo", out.echo)) return e;
  if (out.max_tokens == 0 && !out.echo) {
    return bad_request("max_tokens", "'max_tokens' must be at least 1 (0 only with echo: true)");
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> parse_completion_request(std::string_view body, const RequestLimits& limits,
                                                 CompletionRequest& out) {
  Json parsed;
  if (auto e = parse_body_object(body, limits, parsed)) return e;
  std::string model;
  if (auto e = string_field(parsed, "model", 256, model)) return e;
  if (model.empty())
    return bad_request("model", "'model' is required", "missing_required_parameter");
  if (auto e = parse_prompt(parsed, limits, out)) return e;
  if (auto e = refuse_completion_only(parsed)) return e;
  if (auto e = parse_generation_params(parsed, limits, out)) return e;
  if (auto e = parse_completion_logprobs(parsed, out)) return e;
  if (auto e = parse_echo(parsed, out)) return e;
  if (out.prompts.size() * out.n > limits.max_choices) {
    return bad_request("n", "prompts x n must be at most " + std::to_string(limits.max_choices));
  }
  return std::nullopt;
}

}  // namespace rs::gateway
