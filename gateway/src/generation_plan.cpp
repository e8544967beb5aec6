// Requests -> SUBMITs with their api_meta.
#include "generation_plan.h"

#include <algorithm>

namespace rs::gateway {

namespace {

std::string random_hex(std::mt19937_64& rng, int n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < n; ++i) out += kHex[rng() & 15];
  return out;
}

GenerationPlan make_plan(const GenerationParams& p, std::string_view kind, const char* id_prefix,
                         int64_t created, std::mt19937_64& rng) {
  GenerationPlan plan;
  plan.meta.kind = std::string(kind);
  plan.meta.model = p.model;
  plan.meta.created = created;
  plan.meta.id = id_prefix + random_hex(rng, 24);
  plan.meta.logprobs = p.logprobs;
  plan.meta.top_logprobs = p.logprobs ? p.top_logprobs : 0;
  plan.meta.include_usage = p.include_usage;
  plan.meta.background = p.background;
  plan.stream = p.stream;
  plan.include_usage = p.include_usage;
  plan.background = p.background;
  return plan;
}

// Choice `index`'s SUBMIT, without its prompt.
schemas::SubmitRequest base_submit(const GenerationParams& p, const GenerationPlan& plan,
                                   size_t index, const std::string& tenant, std::mt19937_64& rng) {
  schemas::SubmitRequest s;
  s.model = p.model;
  s.sampling = p.sampling;
  // A concrete seed always: a re-dispatched job then yields the same tokens. Choice i of
  // a seeded request uses seed + i, so n > 1 choices differ yet stay reproducible.
  s.sampling.seed = p.seed_given ? p.sampling.seed.value_or(0) + index : rng() >> 1;
  s.max_tokens = std::max<uint32_t>(p.max_tokens, 1);  // 0: scoring_only (one token, not shown)
  s.top_logprobs = plan.meta.top_logprobs;
  s.stop = p.stop;
  s.priority = p.priority;
  s.affinity_key = p.affinity_key;
  if (p.affinity_key.empty()) s.session_id = p.user;
  s.stream = true;
  s.ignore_eos = p.ignore_eos;
  s.detach = true;
  s.tenant = tenant;
  ApiMeta meta = plan.meta;
  meta.index = static_cast<uint32_t>(index);
  s.api_meta = encode_api_meta(meta);
  return s;
}

}  // namespace

GenerationPlan plan_completion(const CompletionRequest& request, const std::string& tenant,
                               int64_t created, std::mt19937_64& rng) {
  GenerationPlan plan = make_plan(request, kTextCompletion, "cmpl-", created, rng);
  plan.meta.echo = request.echo;
  plan.meta.scoring_only = request.echo && request.max_tokens == 0;
  const size_t total = request.prompts.size() * request.n;
  for (size_t i = 0; i < total; ++i) {
    plan.submits.push_back(base_submit(request, plan, i, tenant, rng));
    schemas::SubmitRequest& s = plan.submits.back();
    s.prompt = request.prompts[i / request.n];
    if (!request.prompt_ids.empty()) s.prompt_ids = request.prompt_ids[i / request.n];
    // The echo's text and tokens are the prompt's tokens, from the engine (any gateway can
    // rebuild the stream from the log); their alternatives only with logprobs N.
    s.prompt_logprobs = request.echo;
    s.prompt_top_logprobs = request.echo ? plan.meta.top_logprobs : 0;
  }
  return plan;
}

GenerationPlan plan_chat(const ChatRequest& request, const std::string& tenant, int64_t created,
                         std::mt19937_64& rng) {
  GenerationPlan plan = make_plan(request, kChatCompletion, "chatcmpl-", created, rng);
  for (size_t i = 0; i < request.n; ++i) {
    schemas::SubmitRequest s = base_submit(request, plan, i, tenant, rng);
    s.chat_messages = request.messages;
    s.chat_tools = request.tools;
    s.chat_kwargs = request.kwargs;
    s.add_generation_prompt = request.add_generation_prompt;
    plan.submits.push_back(std::move(s));
  }
  return plan;
}

}  // namespace rs::gateway
