// The msgpack codec: encode(message) -> body bytes; decode<T>(body) -> Result<T>.
// Bodies are msgpack maps keyed by the field names in messages.h. Decoding applies the
// Limits, type-checks every field and never throws: malformed input -> a wire_error()
// Status (bad_msgpack, too_large, prompt_too_long, invalid_argument). Any thread.
#pragma once

#include <string>
#include <string_view>

#include "rs/core/result.h"
#include "rs/schemas/messages.h"
#include "rs/schemas/protocol.h"

namespace rs::schemas {

// Defined (explicitly instantiated) for every message struct in messages.h with a
// kCommand, and for JobRecord, TokenEntry and SubmitRequest used standalone (Redis).
template <typename T>
std::string encode(const T& message);

template <typename T>
Result<T> decode(std::string_view body, const Limits& limits = Limits{});

// An upper bound of the bytes a TokenEntry takes in a TOKENS / WORKER_TOKENS body (its
// alternatives and prompt logprobs included): senders cut their batches with it so that no
// frame exceeds Limits::max_frame_bytes.
size_t approx_wire_bytes(const TokenEntry& entry);

// Range checks beyond types (used by decode<SubmitRequest> and decode<Dispatch>):
// max_tokens in 1..limits.max_tokens, temperature in [0, 100], top_p/min_p in [0, 1], ...
Status validate(const SubmitRequest& request, const Limits& limits);

}  // namespace rs::schemas
