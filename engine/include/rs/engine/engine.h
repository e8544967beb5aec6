// Engine: one device's continuous-batching inference engine. It owns a KvCache, a
// ThreadPool, a Scheduler and the sequences in flight; it shares an immutable Model.
// Only one thread (the device's engine thread) may call it. Plain structs in and out:
// no transport, serialization or storage here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rs/core/clock.h"
#include "rs/core/result.h"
#include "rs/engine/kernels.h"
#include "rs/engine/model.h"
#include "rs/engine/priority.h"
#include "rs/engine/sampler.h"

namespace rs::engine {

using SeqId = uint64_t;

struct EngineConfig {
  int max_batch_size = 16;      // running sequences per step
  int max_batch_tokens = 512;   // tokens per step (decode + prefill chunks)
  int kv_block_tokens = 16;
  int kv_blocks = 0;            // 0: enough for max_batch_size sequences of max_context
  KvCacheType kv_cache_type = KvCacheType::kF16;  // K/V element type (f32: as the f32 references)
  int max_context = 0;          // 0: min(model context_length, 4096)
  int batch_timeout_ms = 0;     // when idle, wait this long for company before starting
  int n_threads = 0;            // matmul threads; 0: hardware concurrency
  bool prefix_cache = true;
  KernelPath kernel_path = KernelPath::kAuto;
  const Clock* clock = nullptr; // nullptr: SteadyClock
};

struct GenerationRequest {
  std::string prompt;                  // tokenized with add_bos when prompt_tokens is empty
  std::vector<int32_t> prompt_tokens;  // used as is when not empty
  // A chat job: the prompt is the model's chat template rendered with this (Model::chat_prompt,
  // on the engine thread at submit); prompt and prompt_tokens are then unused.
  std::optional<ChatInput> chat;
  bool add_bos = true;
  SamplingParams sampling;
  // Completion tokens at most. 0 is valid only with prompt_logprobs: the job ends after the
  // prefill (FinishReason::kLength, no TokenEvent), as evaluation harnesses want.
  int max_tokens = 256;
  // Alternatives per generated token (TokenEvent::top), 0..kMaxTopLogprobs.
  int top_logprobs = 0;
  // When set (0..kMaxTopLogprobs alternatives each): ln p(prompt[p] | prompt[<p]) for every
  // prompt position p >= 1, from the prefill's logits (one PromptLogprobsEvent before the
  // first TokenEvent). Such a request computes the LM head on every prompt position and
  // never reuses prefix-cached positions (their logits are not kept).
  std::optional<int> prompt_logprobs;
  std::vector<std::string> stop;       // stop strings (not included in the output)
  bool ignore_eos = false;
  Priority priority = Priority::kInteractive;  // batch yields to interactive (scheduler.h)
  // Resume from the log: completion tokens already delivered (indices 0..n-1) by an earlier
  // attempt. They are prefilled after the prompt and count as completion tokens (max_tokens,
  // usage, repetition penalty, stop strings, EOS) but are not emitted: the first TokenEvent
  // has index n, and every event equals the uninterrupted run's from n on. When they already
  // end the job (n >= max_tokens, EOS, a stop string), it finishes at the next step() with
  // the uninterrupted run's finish reason and no tokens.
  std::vector<int32_t> resume_tokens;
};

enum class FinishReason { kEos, kLength, kStop, kCancelled, kError };
const char* finish_reason_name(FinishReason reason);  // "eos", "length", "stop", "cancelled", "error"

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;  // prompt positions served from the prefix cache
  double queue_ms = 0;           // submit -> first scheduled
  double ttft_ms = 0;            // submit -> first token
  double decode_tps = 0;         // completion tokens after the first / time since the first
  double total_ms = 0;
  int preemptions = 0;           // times preempted (recomputed on readmission)
};

struct TokenEvent {
  SeqId seq = 0;
  int32_t token = 0;
  std::string piece;    // UTF-8 text completed by this token (may be empty)
  float logprob = 0;
  int index = 0;        // 0-based position among the completion tokens
  std::vector<TokenLogprob> top;  // request.top_logprobs most likely tokens (raw logits)
};

// One prompt position's logprob: prompt[pos] under the logits of position pos - 1.
struct PromptLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<TokenLogprob> top;  // request.prompt_logprobs most likely tokens
  bool operator==(const PromptLogprob&) const = default;
};

// A sequence's prompt logprobs, positions 1..n_prompt-1 (position 0 has none), emitted once
// in the step that completes its prefill, before that step's TokenEvent for the sequence.
struct PromptLogprobsEvent {
  SeqId seq = 0;
  int32_t first_token = 0;               // prompt position 0 (it has no logprob)
  std::vector<PromptLogprob> positions;  // positions[i] is prompt position i + 1
};

struct FinishEvent {
  SeqId seq = 0;
  FinishReason reason = FinishReason::kEos;
  Usage usage;
  std::string error;    // when reason == kError: what failed
  StatusCode error_code = StatusCode::kOk;  // when reason == kError: its code
};

struct StepResult {
  std::vector<PromptLogprobsEvent> prompt_logprobs;  // come before this step's tokens
  std::vector<TokenEvent> tokens;
  std::vector<FinishEvent> finished;
  int n_seqs = 0;        // sequences in this step's batch
  int n_tokens = 0;      // tokens in this step's batch
  int n_preempted = 0;
};

class Scheduler;

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(std::shared_ptr<const Model> model, EngineConfig config);
  ~Engine();

  // Validates (empty prompt, prompt longer than max_context, bad sampling values) and
  // queues the request. The sequence starts at a later step().
  Result<SeqId> submit(GenerationRequest request);
  // Cancels a waiting or running sequence; its FinishEvent (kCancelled) comes from the
  // next step() and its KV blocks are freed at once. False if unknown or already finished.
  bool cancel(SeqId seq);
  // One iteration: admit, run one batched forward, sample, emit events. Returns at once
  // with an empty result when there is no work (or while batch_timeout_ms holds it).
  StepResult step();

  bool has_work() const;
  int n_running() const;
  int n_waiting() const;
  int kv_free_blocks() const;
  int kv_total_blocks() const;
  int64_t n_preemptions() const;  // since creation, every sequence
  const Model& model() const { return *model_; }
  std::shared_ptr<const Model> model_ptr() const { return model_; }
  const EngineConfig& config() const { return config_; }

 private:
  struct Impl;
  Engine(std::shared_ptr<const Model> model, EngineConfig config);
  std::shared_ptr<const Model> model_;
  EngineConfig config_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::engine
