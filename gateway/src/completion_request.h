// CompletionRequest: a POST /v1/completions body, parsed and validated (OpenAI's fields plus
// our extensions; the fields shared with chat in request_fields.h). Pure functions; any
// thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api_error.h"
#include "request_fields.h"

namespace rs::gateway {

struct CompletionRequest : GenerationParams {
  std::vector<std::string> prompts;  // a string prompt is one entry
  // Prompts given as token ids (`[1, 2]` is one prompt, `[[1, 2], [3]]` two): prompt_ids[i]
  // is prompt i's ids (prompts[i] then ""); empty when the prompts are strings.
  std::vector<std::vector<int32_t>> prompt_ids;
  // echo: the prompt comes before the completion (with logprobs: its tokens first, the
  // first one's logprob null). max_tokens 0 is valid only with echo (as vLLM: scoring a
  // prompt), then the choice is the prompt alone.
  bool echo = false;
};

// Parses and validates; nullopt error means `out` is filled. Unknown fields are ignored;
// a field whose value we cannot honour is a 400 naming it.
std::optional<ApiError> parse_completion_request(std::string_view body, const RequestLimits& limits,
                                                 CompletionRequest& out);

}  // namespace rs::gateway
