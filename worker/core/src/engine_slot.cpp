#include "engine_slot.h"

#include <string>
#include <utility>
#include <vector>

namespace rs::worker {

Result<engine::SeqId> EngineSlot::submit(const std::string& job_id, int attempt,
                                         engine::GenerationRequest request) {
  RS_ASSIGN_OR_RETURN(engine::SeqId seq, engine_->submit(std::move(request)));
  jobs_[seq] = Job{job_id, attempt};
  return seq;
}

void EngineSlot::cancel_all() {
  std::vector<engine::SeqId> seqs;
  seqs.reserve(jobs_.size());
  for (const auto& [seq, job] : jobs_) seqs.push_back(seq);
  for (engine::SeqId seq : seqs) engine_->cancel(seq);
}

namespace {

std::vector<AltOut> alts_out(const engine::Tokenizer& tok, const std::vector<engine::TokenLogprob>& top) {
  std::vector<AltOut> out;
  out.reserve(top.size());
  for (const engine::TokenLogprob& a : top) out.push_back({a.token, tok.piece(a.token), a.logprob});
  return out;
}

std::vector<PromptOut> prompt_out(const engine::Tokenizer& tok, const engine::PromptLogprobsEvent& ev) {
  std::vector<PromptOut> out;
  out.reserve(ev.positions.size() + 1);
  out.push_back({ev.first_token, tok.piece(ev.first_token), 0.0f, {}});
  for (const engine::PromptLogprob& p : ev.positions) {
    out.push_back({p.token, tok.piece(p.token), p.logprob, alts_out(tok, p.top)});
  }
  return out;
}

// A prompt's logprobs must fit in one WORKER_TOKENS frame (4 MiB) with room for the rest of
// the batch: roughly 32 bytes of msgpack per position and per alternative, plus the text.
constexpr size_t kMaxPromptLogprobBytes = 3u << 20;

size_t prompt_wire_bytes(const std::vector<PromptOut>& prompt) {
  size_t n = 0;
  for (const PromptOut& p : prompt) {
    n += 32 + p.text.size();
    for (const AltOut& a : p.top) n += 32 + a.text.size();
  }
  return n;
}

}  // namespace

// Seq 0 of a prompt-logprobs job: its prompt attached, or (too large for a frame) the job
// failed with resource_exhausted (prompt_too_long on the wire) and its sequence cancelled.
bool EngineSlot::attach_prompt(engine::SeqId seq, const engine::StepResult& r, TokenOut& out,
                               StepBatch& batch) {
  for (const engine::PromptLogprobsEvent& p : r.prompt_logprobs) {
    if (p.seq == seq) out.prompt = prompt_out(engine_->model().tokenizer(), p);
  }
  const size_t bytes = prompt_wire_bytes(out.prompt);
  if (bytes <= kMaxPromptLogprobBytes) return true;
  batch.finished.push_back(FinishedOut{
      out.job_id, out.attempt, engine::FinishReason::kError, engine::Usage{},
      "the prompt's logprobs (" + std::to_string(out.prompt.size()) + " positions, ~" +
          std::to_string(bytes >> 10) + " KiB) do not fit in one message: ask for fewer "
          "alternatives or send a shorter prompt",
      StatusCode::kResourceExhausted});
  engine_->cancel(seq);  // its cancelled finish finds no job
  jobs_.erase(seq);
  return false;
}

void EngineSlot::step(StepBatch& batch) {
  engine::StepResult r = engine_->step();
  batch.n_seqs += r.n_seqs;
  batch.n_tokens += r.n_tokens;
  batch.n_preempted += r.n_preempted;
  const engine::Tokenizer& tok = engine_->model().tokenizer();
  for (engine::TokenEvent& t : r.tokens) {
    auto it = jobs_.find(t.seq);
    if (it == jobs_.end()) continue;  // cannot happen: every engine sequence is a job
    const Job& job = it->second;
    // The engine's index is the job's token seq: a resumed attempt's first one is n.
    TokenOut out{job.job_id, job.attempt, t.index, t.token, std::move(t.piece), t.logprob,
                 alts_out(tok, t.top), {}};
    // The prompt's logprobs ride on seq 0 (a resumed attempt's log already has them).
    if (t.index == 0 && !r.prompt_logprobs.empty() && !attach_prompt(t.seq, r, out, batch)) continue;
    batch.tokens.push_back(std::move(out));
  }
  for (engine::FinishEvent& f : r.finished) {
    auto it = jobs_.find(f.seq);
    if (it == jobs_.end()) continue;
    batch.finished.push_back(
        FinishedOut{std::move(it->second.job_id), it->second.attempt, f.reason, f.usage,
                    std::move(f.error), f.error_code});
    jobs_.erase(it);
  }
}

}  // namespace rs::worker
