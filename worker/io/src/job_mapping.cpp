#include "rs/worker/io/job_mapping.h"

#include <algorithm>
#include <climits>

namespace rs::worker::io {

using schemas::ErrorCode;

engine::GenerationRequest to_generation_request(const schemas::SubmitRequest& request, uint64_t created_ms) {
  engine::GenerationRequest r;
  r.prompt = request.prompt;
  r.add_bos = true;
  r.prompt_tokens = request.prompt_ids;  // token ids as given (no BOS added), checked by the engine
  if (request.is_chat()) {
    r.chat = engine::ChatInput{.messages_json = request.chat_messages,
                               .tools_json = request.chat_tools,
                               .kwargs_json = request.chat_kwargs,
                               .add_generation_prompt = request.add_generation_prompt,
                               .now_unix_ms = static_cast<int64_t>(created_ms)};
  }
  r.sampling.temperature = request.sampling.temperature;
  r.sampling.top_k = request.sampling.top_k;
  r.sampling.top_p = request.sampling.top_p;
  r.sampling.min_p = request.sampling.min_p;
  r.sampling.repetition_penalty = request.sampling.repetition_penalty;
  r.sampling.seed = request.sampling.seed;
  r.max_tokens = static_cast<int>(std::min<uint32_t>(request.max_tokens, INT_MAX));
  r.stop = request.stop;
  r.ignore_eos = request.ignore_eos;
  r.top_logprobs = static_cast<int>(std::min<uint32_t>(request.top_logprobs, engine::kMaxTopLogprobs));
  if (request.prompt_logprobs) {
    r.prompt_logprobs = static_cast<int>(std::min<uint32_t>(request.prompt_top_logprobs, engine::kMaxTopLogprobs));
  }
  // One rs::Priority; a value no codec should let through is read as interactive.
  r.priority = request.priority == Priority::kBatch ? Priority::kBatch : Priority::kInteractive;
  return r;
}

engine::GenerationRequest to_generation_request(const schemas::Dispatch& dispatch) {
  engine::GenerationRequest r = to_generation_request(dispatch.request, dispatch.created_ms);
  r.resume_tokens = dispatch.resume_tokens;
  return r;
}

ErrorCode engine_error_code(StatusCode code) {
  switch (code) {
    case StatusCode::kResourceExhausted: return ErrorCode::kPromptTooLong;  // context or KV pool
    case StatusCode::kInvalidArgument: return ErrorCode::kInvalidArgument;
    case StatusCode::kUnavailable: return ErrorCode::kUnavailable;       // the device is stopping
    case StatusCode::kNotFound: return ErrorCode::kModelUnavailable;     // no engine for the model
    default: return ErrorCode::kInternal;
  }
}

std::string_view wire_finish_reason(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kEos:
    case engine::FinishReason::kStop: return "stop";
    case engine::FinishReason::kLength: return "length";
    case engine::FinishReason::kCancelled: return "cancelled";
    case engine::FinishReason::kError: return "error";
  }
  return "error";
}

schemas::Usage to_wire_usage(const engine::Usage& usage) {
  schemas::Usage u;
  u.prompt_tokens = static_cast<uint32_t>(std::max(0, usage.prompt_tokens));
  u.completion_tokens = static_cast<uint32_t>(std::max(0, usage.completion_tokens));
  u.queue_ms = usage.queue_ms;
  u.ttft_ms = usage.ttft_ms;
  u.decode_tps = usage.decode_tps;
  return u;
}

}  // namespace rs::worker::io
