// ChatRequest: a POST /v1/chat/completions body, parsed and validated: the messages (roles,
// text content parts joined, tool calls passed through) re-serialized compactly in the
// client's key order for the worker's chat template, tools, template kwargs, and the
// generation fields shared with completions (request_fields.h). Pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api_error.h"
#include "request_fields.h"

namespace rs::gateway {

struct ChatRequest : GenerationParams {
  std::string messages;  // SUBMIT.chat_messages: a compact JSON array
  std::string tools;     // SUBMIT.chat_tools: a compact JSON array, "" = none
  std::string kwargs;    // SUBMIT.chat_kwargs: chat_template_kwargs as a JSON object, "" = none
  bool add_generation_prompt = true;
};

// Parses and validates; nullopt error means `out` is filled. Unknown fields (of the body and
// of a message) are ignored; a field whose value we cannot honour is a 400 naming it.
// max_tokens defaults to limits.max_tokens (the worker stops at the context's end).
std::optional<ApiError> parse_chat_request(std::string_view body, const RequestLimits& limits,
                                           ChatRequest& out);

// One message as the template gets it: role (developer -> system), content (text parts
// joined with "\n"; null only for an assistant message with tool_calls), name, tool_calls
// (assistant), tool_call_id (tool), in the client's key order; other fields dropped.
// `index` names the message in errors.
std::optional<ApiError> normalize_message(const Json& message, size_t index, Json& out);

}  // namespace rs::gateway
