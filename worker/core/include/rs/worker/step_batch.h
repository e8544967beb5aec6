// StepBatch: what one device's engine thread produced in one loop turn (one engine step):
// every sequence's new token, and the jobs that ended. Plain values, owned by whoever
// holds them; built on the engine thread, handed to the I/O thread through the Outbox.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rs/engine/engine.h"

namespace rs::worker {

// An alternative token: id, vocabulary piece (raw bytes) and logprob.
struct AltOut {
  int32_t token = 0;
  std::string text;
  float logprob = 0;
};

// One prompt position (position 0: logprob 0 and no alternatives).
struct PromptOut {
  int32_t token = 0;
  std::string text;
  float logprob = 0;
  std::vector<AltOut> top;
};

struct TokenOut {
  std::string job_id;
  int attempt = 0;
  int seq = 0;          // 0-based per job: the engine's TokenEvent::index (resumed tokens count)
  int32_t token = 0;
  std::string piece;    // UTF-8 text completed by this token (may be empty)
  float logprob = 0;    // the engine's TokenEvent::logprob (log-softmax of the raw logits)
  std::vector<AltOut> top;       // TokenEvent::top with their pieces
  std::vector<PromptOut> prompt;  // seq 0 of a prompt-logprobs job: every prompt position
};

struct FinishedOut {
  std::string job_id;
  int attempt = 0;
  engine::FinishReason reason = engine::FinishReason::kEos;
  engine::Usage usage;
  std::string error;    // set when reason == kError (validation or engine failure)
  // Its code, from where it arose: the engine (resource_exhausted: beyond the context or
  // the KV pool; invalid_argument: a bad request; internal: a forward failed) or the
  // device host (unavailable: stopping; not_found: no engine for the model).
  StatusCode error_code = StatusCode::kOk;
};

struct StepBatch {
  int device = 0;
  uint64_t number = 0;  // the device's batch counter: 1, 2, 3, ... (no gaps)
  std::vector<TokenOut> tokens;       // at most one per job
  std::vector<FinishedOut> finished;  // each job ends exactly once
  std::vector<std::string> errors;    // device-level problems (not tied to a job)
  int n_seqs = 0;       // sequences in this step's batch
  int n_tokens = 0;     // tokens in this step's batch
  int n_preempted = 0;  // sequences preempted in this step

  bool empty() const { return tokens.empty() && finished.empty() && errors.empty(); }
};

}  // namespace rs::worker
