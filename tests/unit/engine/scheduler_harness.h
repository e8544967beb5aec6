// Helpers for the Scheduler's pure tests: a tiny KV pool, prompts, and a step that plays
// the engine's part (commit, append a token after each chunk with logits, remove the
// sequences that reached max_tokens). Test thread only.
#pragma once

#include <numeric>
#include <vector>

#include "rs/engine/scheduler.h"

namespace rs::engine::test {

inline KvCacheConfig tiny_kv(int n_blocks, int block_tokens = 4) {
  KvCacheConfig c;
  c.n_layers = 1;
  c.n_kv_heads = 1;
  c.head_dim = 1;
  c.block_tokens = block_tokens;
  c.n_blocks = n_blocks;
  return c;
}

inline std::vector<int32_t> prompt_of(int n, int32_t start = 10) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), start);
  return p;
}

inline SchedulerOutput run_step(Scheduler& s) {
  SchedulerOutput out = s.schedule();
  s.commit(out);
  for (const auto& c : out.chunks) {
    if (!c.needs_logits) continue;
    const SchedSeq* q = s.find(c.seq);
    s.append_token(c.seq, 7);
    if (static_cast<int>(q->tokens.size()) - q->n_prompt >= q->max_tokens) s.remove(c.seq);
  }
  return out;
}

inline const ScheduledChunk* chunk_of(const SchedulerOutput& out, SeqId id) {
  for (const auto& c : out.chunks)
    if (c.seq == id) return &c;
  return nullptr;
}

}  // namespace rs::engine::test
