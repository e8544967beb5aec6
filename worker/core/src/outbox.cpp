#include "rs/worker/outbox.h"

#include <utility>

namespace rs::worker {

void Outbox::push(StepBatch batch) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(std::move(batch));
}

std::vector<StepBatch> Outbox::take_all() {
  std::vector<StepBatch> out;
  std::lock_guard<std::mutex> lock(mu_);
  out.swap(pending_);
  return out;
}

size_t Outbox::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

}  // namespace rs::worker
