// Translations between the wire (rs_schemas) and a device's engine (rs_engine): a
// DISPATCH (its SubmitRequest, resume tokens) -> GenerationRequest, an engine refusal -> a
// typed ErrorCode, engine usage and finish reasons -> their wire form. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

#include "rs/engine/engine.h"
#include "rs/schemas/errors.h"
#include "rs/schemas/messages.h"

namespace rs::worker::io {

// The engine request for a dispatched job: prompt (tokenized with BOS), sampling with its
// seed always set (seed 0 is a seed: the same request gives the same tokens), max_tokens, stop.
// created_ms: the job's creation (Unix ms), a chat template's strftime_now clock.
engine::GenerationRequest to_generation_request(const schemas::SubmitRequest& request, uint64_t created_ms = 0);
// The whole DISPATCH: the above with the job's creation time, and resume_tokens (the tokens
// its log already holds, seqs 0..n-1): the engine prefills them and emits from seq n on.
engine::GenerationRequest to_generation_request(const schemas::Dispatch& dispatch);

// The wire code for an engine refusal or failure, from the code it carries
// (FinishedOut::error_code, set where it arose): resource_exhausted (a prompt longer than
// the context, or a request that cannot fit the device's KV cache) -> prompt_too_long;
// invalid_argument (bad sampling, empty prompt) -> invalid_argument; unavailable (a stopping
// device) -> unavailable; not_found (no engine for the job's model key) -> model_unavailable;
// anything else -> internal.
schemas::ErrorCode engine_error_code(StatusCode code);

// "stop" (EOS or a stop string), "length", "cancelled"; "error" for kError (never sent in DONE).
std::string_view wire_finish_reason(engine::FinishReason reason);

schemas::Usage to_wire_usage(const engine::Usage& usage);

}  // namespace rs::worker::io
