// Outbox: the queue of StepBatches from one or more engine threads to the I/O thread.
// It owns the pending batches behind a mutex. Engine threads call push(); the I/O thread
// calls take_all(), which swaps out everything pending in one go. Any thread may call size().
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include "rs/worker/step_batch.h"

namespace rs::worker {

class Outbox {
 public:
  void push(StepBatch batch);
  std::vector<StepBatch> take_all();
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<StepBatch> pending_;
};

}  // namespace rs::worker
