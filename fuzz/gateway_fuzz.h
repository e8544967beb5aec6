// Shared body of the gateway fuzzers: a request body through the parser its path selects
// (POST /v1/completions or /v1/chat/completions), then planned into the SUBMITs the
// gateway would send, each encoded for the wire. Limits are the gateway's defaults.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "chat_request.h"
#include "completion_request.h"
#include "generation_plan.h"
#include "rs/schemas/codec.h"

namespace rs::fuzz {

inline void plan_submits(const gateway::GenerationPlan& plan) {
  for (const auto& submit : plan.submits) {
    (void)schemas::validate(submit, schemas::Limits{});
    (void)schemas::decode<schemas::SubmitRequest>(schemas::encode(submit));
  }
}

inline void fuzz_completion_body(std::string_view body) {
  gateway::CompletionRequest request;
  if (gateway::parse_completion_request(body, gateway::RequestLimits{}, request)) return;
  std::mt19937_64 rng(1);
  plan_submits(gateway::plan_completion(request, "tenant", 1700000000, rng));
}

inline void fuzz_chat_body(std::string_view body) {
  gateway::ChatRequest request;
  if (gateway::parse_chat_request(body, gateway::RequestLimits{}, request)) return;
  std::mt19937_64 rng(1);
  plan_submits(gateway::plan_chat(request, "tenant", 1700000000, rng));
}

}  // namespace rs::fuzz
