#include "engine_slot.h"

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

}  // namespace

void EngineSlot::step(StepBatch& batch) {
  engine::StepResult r = engine_->step();
  batch.n_seqs += r.n_seqs;
  batch.n_tokens += r.n_tokens;
  const engine::Tokenizer& tok = engine_->model().tokenizer();
  for (engine::TokenEvent& t : r.tokens) {
    auto it = jobs_.find(t.seq);
    if (it == jobs_.end()) continue;  // cannot happen: every engine sequence is a job
    const Job& job = it->second;
    // The engine's index is the job's token seq: a resumed attempt's first one is n.
    TokenOut out{job.job_id, job.attempt, t.index, t.token, std::move(t.piece), t.logprob,
                 alts_out(tok, t.top), {}};
    // The prompt's logprobs ride on seq 0 (a resumed attempt's log already has them).
    if (t.index == 0) {
      for (const engine::PromptLogprobsEvent& p : r.prompt_logprobs) {
        if (p.seq == t.seq) out.prompt = prompt_out(tok, p);
      }
    }
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
