// EngineSlot: one Engine on a device for one model key, plus the jobs it runs (engine
// sequence -> job id and attempt) and whether it takes new jobs
// (false once retired or replaced: it drains, then the DeviceHost drops it, releasing its
// engine's share of the Model). Owned by a DeviceHost; engine thread only.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "rs/core/result.h"
#include "rs/engine/engine.h"
#include "rs/worker/step_batch.h"

namespace rs::worker {

class EngineSlot {
 public:
  EngineSlot(std::string key, std::unique_ptr<engine::Engine> engine)
      : key_(std::move(key)), engine_(std::move(engine)) {}

  Result<engine::SeqId> submit(const std::string& job_id, int attempt,
                               engine::GenerationRequest request);
  bool cancel(engine::SeqId seq) { return engine_->cancel(seq); }
  void cancel_all();
  // Runs one engine step and appends its tokens and finished jobs to `batch`.
  void step(StepBatch& batch);

  bool has_work() const { return engine_->has_work(); }
  bool drained() const { return jobs_.empty() && !engine_->has_work(); }
  int n_jobs() const { return static_cast<int>(jobs_.size()); }
  const engine::Engine& engine() const { return *engine_; }
  const std::string& key() const { return key_; }
  bool accepting() const { return accepting_; }
  void retire() { accepting_ = false; }

 private:
  struct Job {
    std::string job_id;
    int attempt = 0;
  };
  bool attach_prompt(engine::SeqId seq, const engine::StepResult& r, TokenOut& out, StepBatch& batch);
  std::string key_;
  bool accepting_ = true;
  std::unique_ptr<engine::Engine> engine_;
  std::unordered_map<engine::SeqId, Job> jobs_;
};

}  // namespace rs::worker
