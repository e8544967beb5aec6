// Priority: the scheduling class of a sequence (rs::Priority, shared with the wire and the
// broker). Interactive sequences are admitted before batch ones and preempt them for a slot
// or KV blocks; a batch sequence never preempts an interactive one. Any thread.
#pragma once

#include "rs/core/priority.h"

namespace rs::engine {

using Priority = ::rs::Priority;  // defined once, in rs_core
using ::rs::kNumPriorities;
using ::rs::priority_index;

}  // namespace rs::engine
