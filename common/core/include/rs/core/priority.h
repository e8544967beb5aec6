// Priority: a job's scheduling class, the one definition every layer shares (the wire's
// SUBMIT field, the broker's queue lanes, the engine's admission and preemption order).
// Interactive jobs go first and may preempt batch ones; FIFO within a class. Plain value
// type: any thread.
#pragma once

#include <cstdint>

namespace rs {

enum class Priority : uint8_t { kInteractive = 0, kBatch = 1 };
inline constexpr int kNumPriorities = 2;

inline constexpr int priority_index(Priority p) {
  return p == Priority::kBatch ? 1 : 0;
}

}  // namespace rs
