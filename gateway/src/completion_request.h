// CompletionRequest: a POST /v1/completions body, parsed and validated (OpenAI's fields plus
// our extensions), and its translation into SUBMITs. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api_error.h"
#include "rs/schemas/messages.h"

namespace rs::gateway {

struct RequestLimits {
  uint32_t max_n = 16;                 // n
  uint32_t max_choices = 64;           // prompts x n
  size_t max_prompt_bytes = 1u << 20;  // each prompt (the broker's limit)
  uint32_t max_tokens = 1u << 16;
  size_t max_json_depth = 32;
};

struct CompletionRequest {
  std::string model;
  std::vector<std::string> prompts;  // a string prompt is one entry
  uint32_t max_tokens = 16;          // OpenAI's default
  schemas::Sampling sampling;
  bool seed_given = false;
  std::vector<std::string> stop;
  uint32_t n = 1;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;  // logprobs: 0 -> the chosen token's logprob
  std::string user;
  // Extensions.
  bool ignore_eos = false;
  schemas::Priority priority = schemas::Priority::kInteractive;
  std::string affinity_key;
  bool background = false;
};

// The JSON nesting depth of a body (brackets outside strings), counted without recursion so
// a hostile 1e5-deep body is refused before any recursive parser sees it.
size_t json_depth(std::string_view body);

// Parses and validates; nullopt error means `out` is filled. Unknown fields are ignored;
// a field whose value we cannot honour is a 400 naming it.
std::optional<ApiError> parse_completion_request(std::string_view body, const RequestLimits& limits,
                                                 CompletionRequest& out);

}  // namespace rs::gateway
