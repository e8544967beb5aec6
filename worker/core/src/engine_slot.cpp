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

void EngineSlot::step(StepBatch& batch) {
  engine::StepResult r = engine_->step();
  batch.n_seqs += r.n_seqs;
  batch.n_tokens += r.n_tokens;
  for (engine::TokenEvent& t : r.tokens) {
    auto it = jobs_.find(t.seq);
    if (it == jobs_.end()) continue;  // cannot happen: every engine sequence is a job
    const Job& job = it->second;
    // The engine's index is the job's token seq: a resumed attempt's first one is n.
    batch.tokens.push_back(
        TokenOut{job.job_id, job.attempt, t.index, t.token, std::move(t.piece), t.logprob});
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
