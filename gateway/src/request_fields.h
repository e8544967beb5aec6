// Request bodies shared by POST /v1/completions and /v1/chat/completions: the hostile-body
// checks before parsing, typed readers of one field (each a 400 naming it), and the
// generation fields both endpoints accept (sampling, lengths, stop, streaming, our
// extensions). Pure functions; any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api_error.h"
#include "rs/schemas/messages.h"

namespace rs::gateway {

// Bodies are parsed keeping key order (a chat template sees the client's order).
using Json = nlohmann::ordered_json;

struct RequestLimits {
  uint32_t max_n = 16;                 // n
  uint32_t max_choices = 64;           // prompts x n
  size_t max_prompt_bytes = 1u << 20;  // each prompt, or a chat's JSON texts (the broker's limit)
  size_t max_prompt_tokens = 1u << 16;  // each prompt given as token ids (the broker's limit)
  uint32_t max_tokens = 1u << 16;
  size_t max_json_depth = 32;
  size_t max_object_members = 1024;  // members of one object (json_widest_object)
};

// The fields both endpoints share, validated.
struct GenerationParams {
  std::string model;
  uint32_t max_tokens = 16;  // OpenAI's default for completions
  schemas::Sampling sampling;
  bool seed_given = false;
  std::vector<std::string> stop;
  uint32_t n = 1;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;  // the chosen token's logprob
  uint32_t top_logprobs = 0;  // alternatives per completion token (completions 0..5, chat 0..20)
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
// The most members any one object of the body has, same scan (an ordered object's insert
// is linear in its size: a hostile wide object would cost quadratic time to parse).
size_t json_widest_object(std::string_view body);

// Depth and width checks, then the parse; the body must be a JSON object.
std::optional<ApiError> parse_body_object(std::string_view body, const RequestLimits& limits,
                                          Json& out);

// Typed readers: an absent or null field keeps `out`.
const char* json_type_name(const Json& v);
ApiError wrong_type(const std::string& param, const char* want, const Json& v);
std::optional<ApiError> number_field(const Json& body, const char* name, double lo, double hi,
                                     double& out);
std::optional<ApiError> integer_field(const Json& body, const char* name, int64_t lo, int64_t hi,
                                      int64_t& out, bool* given = nullptr);
std::optional<ApiError> bool_field(const Json& body, const char* name, bool& out);
std::optional<ApiError> string_field(const Json& body, const char* name, size_t max_bytes,
                                     std::string& out);
bool field_given(const Json& body, const char* name);

// model, sampling, max_tokens / max_completion_tokens, n, stop, stream, stream_options, user, the
// extensions, and the refusals both endpoints share (a non-empty logit_bias, penalties other than
// 0). Not logprobs. max_tokens 0 is read as given: the endpoint decides (completions allow it
// only with echo, chat never).
std::optional<ApiError> parse_generation_params(const Json& body, const RequestLimits& limits,
                                                GenerationParams& out);

}  // namespace rs::gateway
