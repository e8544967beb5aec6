// WorkerLoop: engine output -> the broker. One WORKER_TOKENS per engine step (StepBatch)
// with every sequence's new piece, then one WORKER_DONE or WORKER_FAILED per ended job.
#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>

#include "rs/schemas/codec.h"
#include "rs/worker/io/job_mapping.h"
#include "rs/worker/io/worker_loop.h"

namespace rs::worker::io {
namespace {

// The wire refuses non-finite floats: a token of probability 0 (or a NaN from a broken
// model) goes out as the lowest float, which still reads as "impossible".
float wire_logprob(float logprob) {
  return std::isfinite(logprob) ? logprob : std::numeric_limits<float>::lowest();
}

std::vector<schemas::TokenAlt> wire_alts(std::vector<AltOut>& top) {
  std::vector<schemas::TokenAlt> out;
  out.reserve(top.size());
  for (AltOut& a : top) out.push_back({a.token, std::move(a.text), wire_logprob(a.logprob)});
  return out;
}

std::vector<schemas::PromptToken> wire_prompt(std::vector<PromptOut>& prompt) {
  std::vector<schemas::PromptToken> out;
  out.reserve(prompt.size());
  for (PromptOut& p : prompt) {
    out.push_back({p.token, std::move(p.text), wire_logprob(p.logprob), wire_alts(p.top)});
  }
  return out;
}

}  // namespace

// While an engine is stale the worker is silent: batches wait in the outbox, and go out in
// order if the engine recovers before the broker gives up on us (else they are stale).
void WorkerLoop::flush_outbox() {
  if (!healthy()) return;
  std::vector<StepBatch> batches = outbox_->take_all();
  for (StepBatch& b : batches) send_batch(b);
}

bool WorkerLoop::is_current(const std::string& job_id, int attempt) const {
  auto it = in_flight_.find(job_id);
  return it != in_flight_.end() && it->second.attempt == static_cast<uint32_t>(attempt);
}

void WorkerLoop::send_batch(StepBatch& batch) {
  for (const std::string& e : batch.errors) {
    spdlog::warn("worker {}: device {}: {}", options_.worker_id, batch.device, e);
  }
  schemas::WorkerTokens tokens;
  tokens.entries.reserve(batch.tokens.size());
  size_t bytes = 0;
  for (TokenOut& t : batch.tokens) {
    if (!is_current(t.job_id, t.attempt)) {
      counters_.stale_outputs.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    tokens.entries.push_back(schemas::TokenEntry{.job_id = t.job_id,
                                                 .attempt = static_cast<uint32_t>(t.attempt),
                                                 .seq = static_cast<uint64_t>(t.seq),
                                                 .token = t.token,
                                                 .text = std::move(t.piece),
                                                 .logprob = wire_logprob(t.logprob),
                                                 .top = wire_alts(t.top),
                                                 .prompt = wire_prompt(t.prompt)});
    in_flight_[t.job_id].tokens.push_back(tokens.entries.back());  // kept for a resend
    bytes += schemas::approx_wire_bytes(tokens.entries.back());
    if (bytes >= kTokensMessageBytes) {  // prompt logprobs: the rest in another message
      send_tokens(tokens);
      bytes = 0;
    }
  }
  send_tokens(tokens);
  for (FinishedOut& f : batch.finished) {
    if (!is_current(f.job_id, f.attempt)) {
      counters_.stale_outputs.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    send_end(f, batch.device);
  }
}

void WorkerLoop::send_tokens(schemas::WorkerTokens& tokens) {
  if (!tokens.entries.empty() && send(tokens)) {
    counters_.token_messages.fetch_add(1, std::memory_order_relaxed);
    counters_.tokens_sent.fetch_add(tokens.entries.size(), std::memory_order_relaxed);
  }
  tokens.entries.clear();
}

// A current job's end: WORKER_DONE, WORKER_FAILED with the engine error's code, or (drain)
// WORKER_FAILED draining for a job cancelled at the grace deadline.
void WorkerLoop::send_end(FinishedOut& f, int device) {
  const auto attempt = static_cast<uint32_t>(f.attempt);
  const InFlight& job = in_flight_.at(f.job_id);
  if (job.handed_back && !job.cancel_requested && f.reason == engine::FinishReason::kCancelled) {
    // Its tokens went out before this; the broker resumes the job elsewhere from its log.
    spdlog::info("worker {}: job {} handed back after {} token(s)", options_.worker_id, f.job_id,
                 job.tokens.size());
    send_final(f.job_id, hand_back_failure(f.job_id, job, device, "the grace period is over"));
    return;
  }
  if (f.reason == engine::FinishReason::kError) {
    const schemas::ErrorCode code = engine_error_code(f.error_code);
    spdlog::info("worker {}: job {} failed ({}): {}", options_.worker_id, f.job_id,
                 schemas::error_code_name(code), f.error);
    send_final(f.job_id, schemas::WorkerFailed{.job_id = f.job_id, .attempt = attempt,
                                               .device = device, .code = code,
                                               .message = std::move(f.error)});
    return;
  }
  spdlog::debug("worker {}: job {} attempt {} done on device {}: {}, {} tokens",
                options_.worker_id, f.job_id, attempt, device, engine::finish_reason_name(f.reason),
                f.usage.completion_tokens);
  send_final(f.job_id, schemas::WorkerDone{
                           .job_id = f.job_id, .attempt = attempt, .device = device,
                           .usage = to_wire_usage(f.usage),
                           .finish_reason = std::string(wire_finish_reason(f.reason))});
}

// A job's end goes to the broker; without a connection it is kept (with the job's tokens)
// and follows the next READY.
void WorkerLoop::send_final(const std::string& job_id, schemas::Message final) {
  if (state_ == State::kDisconnected) {
    in_flight_[job_id].final = std::move(final);
    return;
  }
  const bool done = std::holds_alternative<schemas::WorkerDone>(final);
  if (!send(final)) {  // no link (a broker restart): kept for the next READY
    in_flight_[job_id].final = std::move(final);
    return;
  }
  InFlight& job = in_flight_[job_id];  // kept a little: the broker may die before reading it
  job.final = std::move(final);
  job.final_sent_ns = clock_.now_ns();
  (done ? counters_.done_sent : counters_.failed_sent).fetch_add(1, std::memory_order_relaxed);
}

// Ends sent more than 3 heartbeat intervals ago reached a broker that lived on.
void WorkerLoop::forget_old_finals() {
  const int64_t horizon_ns = clock_.now_ns() - 3 * options_.heartbeat_ms * 1'000'000;
  std::erase_if(in_flight_, [&](const auto& entry) {
    return entry.second.final_sent_ns != 0 && entry.second.final_sent_ns < horizon_ns;
  });
}

}  // namespace rs::worker::io
