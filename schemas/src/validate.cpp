// Enum names and the range checks of a SubmitRequest.
#include <cmath>

#include "rs/schemas/codec.h"
#include "rs/schemas/messages.h"

namespace rs::schemas {

std::string_view priority_name(Priority p) { return p == Priority::kBatch ? "batch" : "interactive"; }

std::optional<Priority> parse_priority(std::string_view name) {
  if (name == "interactive") return Priority::kInteractive;
  if (name == "batch") return Priority::kBatch;
  return std::nullopt;
}

std::string_view job_state_name(JobState s) {
  switch (s) {
    case JobState::kQueued: return "QUEUED";
    case JobState::kDispatched: return "DISPATCHED";
    case JobState::kRunning: return "RUNNING";
    case JobState::kSucceeded: return "SUCCEEDED";
    case JobState::kFailed: return "FAILED";
    case JobState::kCancelled: return "CANCELLED";
  }
  return "FAILED";
}

std::optional<JobState> parse_job_state(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(JobState::kCancelled); ++i) {
    auto s = static_cast<JobState>(i);
    if (job_state_name(s) == name) return s;
  }
  return std::nullopt;
}

bool is_terminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled;
}

namespace {
bool in_range(float x, float lo, float hi) { return std::isfinite(x) && x >= lo && x <= hi; }
Status bad(const std::string& what) { return wire_error(ErrorCode::kInvalidArgument, what); }
Status too_long(const char* field, size_t max) {
  return wire_error(ErrorCode::kTooLarge,
                    std::string(field) + " longer than " + std::to_string(max) + " bytes");
}
}  // namespace

Status validate(const SubmitRequest& r, const Limits& l) {
  if (r.model.empty()) return bad("model is empty");
  const size_t prompt_bytes = r.prompt.size() + r.chat_messages.size() + r.chat_tools.size() + r.chat_kwargs.size();
  if (prompt_bytes > l.max_prompt_bytes) {
    return wire_error(ErrorCode::kPromptTooLong, "prompt of " + std::to_string(prompt_bytes) +
                                                     " bytes > " + std::to_string(l.max_prompt_bytes));
  }
  if (r.is_chat() && !r.prompt.empty()) return bad("a chat job (chat_messages) has no prompt");
  if (!r.prompt_ids.empty()) {
    if (!r.prompt.empty() || r.is_chat()) return bad("prompt_ids replace prompt and chat_messages");
    if (r.prompt_ids.size() > l.max_prompt_tokens) {
      return wire_error(ErrorCode::kPromptTooLong, "prompt of " + std::to_string(r.prompt_ids.size()) +
                                                       " token ids > " + std::to_string(l.max_prompt_tokens));
    }
    for (int32_t id : r.prompt_ids) {
      if (id < 0) return bad("prompt_ids must be >= 0 (got " + std::to_string(id) + ")");
    }
  }
  if (!r.is_chat() && (!r.chat_tools.empty() || !r.chat_kwargs.empty())) {
    return bad("chat_tools and chat_kwargs need chat_messages");
  }
  if (r.max_tokens == 0 || r.max_tokens > l.max_tokens) {
    return bad("max_tokens must be in 1.." + std::to_string(l.max_tokens));
  }
  const Sampling& s = r.sampling;
  if (!in_range(s.temperature, 0.0f, 100.0f)) return bad("temperature must be in [0, 100]");
  if (s.top_k < 0) return bad("top_k must be >= 0");
  if (!in_range(s.top_p, 0.0f, 1.0f)) return bad("top_p must be in [0, 1]");
  if (!in_range(s.min_p, 0.0f, 1.0f)) return bad("min_p must be in [0, 1]");
  if (!in_range(s.repetition_penalty, 0.01f, 100.0f)) return bad("repetition_penalty must be in [0.01, 100]");
  if (r.stop.size() > l.max_stop_strings) return bad("too many stop strings");
  for (const std::string& stop : r.stop) {
    if (stop.empty() || stop.size() > l.max_stop_bytes) return bad("stop strings must be 1.." + std::to_string(l.max_stop_bytes) + " bytes");
  }
  if (r.top_logprobs > l.max_top_logprobs || r.prompt_top_logprobs > l.max_top_logprobs) {
    return wire_error(ErrorCode::kTooLarge, "top_logprobs and prompt_top_logprobs must be in 0.." +
                                                std::to_string(l.max_top_logprobs));
  }
  if (r.prompt_top_logprobs > 0 && !r.prompt_logprobs) return bad("prompt_top_logprobs needs prompt_logprobs");
  if (r.api_meta.size() > l.max_api_meta_bytes) return too_long("api_meta", l.max_api_meta_bytes);
  if (r.tenant.size() > l.max_tenant_bytes) return too_long("tenant", l.max_tenant_bytes);
  return {};
}

}  // namespace rs::schemas
