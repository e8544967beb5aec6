// The OpenAI chat.completion format: the JSON of a chat stream's chunks (the role chunk
// that opens each choice, content deltas, the finish chunk, the usage chunk) and of a
// whole chat.completion response, built from the pieces completion_format.h assembles.
// Pure; any thread.
#pragma once

#include <string>
#include <vector>

#include "completion_format.h"

namespace rs::gateway {

// delta {"role": "assistant", "content": ""}: the first chunk of each choice.
std::string chat_role_chunk(const ApiMeta& meta);
// delta {"content": piece.text}, with logprobs.content when the request asked.
std::string chat_content_chunk(const ApiMeta& meta, const TextPiece& piece);
// delta {} and the finish_reason: the last chunk of each choice.
std::string chat_final_chunk(const ApiMeta& meta, const std::string& finish_reason);
// choices [] and usage (stream_options.include_usage).
std::string chat_usage_chunk(const ApiMeta& meta, const schemas::Usage& usage);
// A whole chat.completion: message {role, content, refusal: null} per choice, usage.
std::string chat_response(const ApiMeta& meta, const std::vector<ChoiceResult>& choices);

}  // namespace rs::gateway
