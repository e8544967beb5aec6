// EngineSeq: the engine-side state of one request in flight (sampler, detokenizer, stop
// matcher, timing). Tokens and KV blocks live in the Scheduler's SchedSeq. Engine thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rs/engine/engine.h"
#include "rs/engine/sampler.h"
#include "rs/engine/tokenizer.h"
#include "stop_matcher.h"

namespace rs::engine {

struct EngineSeq {
  EngineSeq(SeqId seq_id, const GenerationRequest& request, const Tokenizer& tokenizer, int64_t now_ns)
      : id(seq_id),
        ignore_eos(request.ignore_eos),
        sampler(request.sampling),
        decoder(tokenizer),
        stop(request.stop),
        top_logprobs(request.top_logprobs),
        prompt_logprobs(request.prompt_logprobs),
        submit_ns(now_ns) {}

  SeqId id;
  bool ignore_eos;
  Sampler sampler;
  StreamDecoder decoder;
  StopMatcher stop;
  int top_logprobs;
  std::optional<int> prompt_logprobs;   // set: collect the prompt's logprobs
  std::vector<PromptLogprob> prompt_lp; // positions 1..: collected so far (kept over preemption)
  bool prompt_lp_sent = false;
  int n_prompt = 0;
  int n_generated = 0;            // completion tokens, resumed ones included
  int n_resumed = 0;              // of which resumed from the log (not emitted, not timed)
  int cached_prompt_tokens = -1;  // set at the first admission
  int64_t submit_ns;
  int64_t first_scheduled_ns = -1;
  int64_t first_token_ns = -1;
  int64_t last_token_ns = -1;
};

}  // namespace rs::engine
