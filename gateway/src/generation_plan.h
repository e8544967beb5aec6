// GenerationPlan: what a POST /v1/completions or /v1/chat/completions becomes: one SUBMIT
// per choice (a concrete seed, detached, the tenant, the api_meta any gateway needs to
// rebuild the answer) and how to answer (stream, usage, background). Pure functions; the
// caller's thread (the rng is the caller's).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "chat_request.h"
#include "completion_format.h"
#include "completion_request.h"

namespace rs::gateway {

struct GenerationPlan {
  ApiMeta meta;                                 // the response's (choice 0's index)
  std::vector<schemas::SubmitRequest> submits;  // choice i; its api_meta has index i
  bool stream = false;
  bool include_usage = false;
  bool background = false;
};

// Choice i = prompt i / n. The response id is "cmpl-" + 24 random hex digits.
GenerationPlan plan_completion(const CompletionRequest& request, const std::string& tenant,
                               int64_t created, std::mt19937_64& rng);
// n choices of one conversation. The response id is "chatcmpl-" + 24 random hex digits.
GenerationPlan plan_chat(const ChatRequest& request, const std::string& tenant, int64_t created,
                         std::mt19937_64& rng);

}  // namespace rs::gateway
