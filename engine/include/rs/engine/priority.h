// Priority: the engine's scheduling class of a sequence. Interactive sequences are admitted
// before batch ones and preempt them for a slot or KV blocks; a batch sequence never preempts
// an interactive one. Plain value type: any thread.
#pragma once

#include <cstdint>

namespace rs::engine {

enum class Priority : uint8_t { kInteractive = 0, kBatch = 1 };
inline constexpr int kNumPriorities = 2;

inline int priority_index(Priority p) { return p == Priority::kBatch ? 1 : 0; }

}  // namespace rs::engine
