// Scheduler: continuous batching over one KvCache (vLLM v1 style). It owns the token
// lists and block tables of the sequences in flight, decides each step's batch (running
// sequences first, then admission under batch-size, token and KV-block limits, chunked
// prefill, prefix-cache reuse, preemption by recompute), with two priorities: interactive
// before batch (docs/ARCHITECTURE.md). Pure: no model. Owned by one Engine; only the engine
// thread may call it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "rs/core/clock.h"
#include "rs/core/result.h"
#include "rs/engine/kv_cache.h"
#include "rs/engine/priority.h"

namespace rs::engine {

using SeqId = uint64_t;

struct SchedulerConfig {
  int max_batch_size = 16;     // running sequences
  int max_batch_tokens = 512;  // tokens per step
  int max_context = 4096;      // positions per sequence
  int batch_timeout_ms = 0;    // when idle, wait this long for company before starting
  bool prefix_cache = true;
};

// One sequence's tokens, KV blocks and progress.
struct SchedSeq {
  SeqId id = 0;
  std::vector<int32_t> tokens;     // prompt + generated so far
  int n_prompt = 0;
  int max_tokens = 0;              // completion tokens allowed (within max_context)
  int n_computed = 0;              // leading positions whose K/V are in the cache
  std::vector<BlockId> blocks;
  std::vector<uint64_t> block_hashes;  // chain hashes of the leading full blocks (published or found)
  int cached_tokens = 0;           // positions served from the prefix cache at the last admission
  int64_t arrival_ns = 0;
  Priority priority = Priority::kInteractive;
  int n_preemptions = 0;
  bool running = false;
  bool reuse_prefix = true;        // false: never attach prefix-cached blocks (prompt logprobs)
  int max_chunk_tokens = 0;        // > 0: at most this many positions per step (0: budget only)
};

struct ScheduledChunk {
  SeqId seq = 0;
  int32_t pos0 = 0;       // first position of the chunk (== n_computed)
  int32_t n_tokens = 0;
  bool needs_logits = false;  // the chunk ends at the last known token: sample after it
  bool first_schedule = false;  // first chunk since admission (from waiting)
};

struct SchedulerOutput {
  std::vector<ScheduledChunk> chunks;
  std::vector<SeqId> preempted;  // moved back to waiting during this call
  int n_tokens = 0;
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  Scheduler(KvCache& kv, SchedulerConfig config, const Clock* clock = nullptr);
  ~Scheduler();

  // Queues a sequence. Rejects an empty prompt, max_tokens < 0 or a duplicate id
  // (invalid_argument), and a prompt longer than max_context or one whose prompt +
  // max_tokens could never fit in the whole KV pool (resource_exhausted). Waiting order: interactive
  // before batch, FIFO within a priority. resumed: completion tokens already generated
  // (resume from the log), appended after the prompt and prefilled with it, as a preempted
  // sequence is recomputed; the caller keeps their number below the effective max_tokens.
  // max_tokens 0: the prompt is prefilled and nothing sampled (the engine ends it then).
  // reuse_prefix false: every position is computed, none attached from the prefix cache.
  Status add(SeqId id, std::vector<int32_t> prompt, int max_tokens,
             Priority priority = Priority::kInteractive, std::span<const int32_t> resumed = {},
             bool reuse_prefix = true);
  // Decides this step's batch and allocates the blocks it needs. Empty when there is
  // nothing to do (or while batch_timeout_ms holds the first arrivals back).
  // Priorities: running interactive sequences are served first; when blocks run out the
  // victim is the newest batch sequence (the newest interactive one only when no batch
  // sequence runs; a batch sequence never preempts an interactive one); a waiting
  // interactive sequence preempts running batch sequences (newest first, only as many as
  // needed) for a slot or blocks; a step with an interactive prefill chunk holds no batch
  // work (batch decodes resume the next step).
  SchedulerOutput schedule();
  // After the forward of `out` succeeded: advances n_computed, publishes full blocks.
  void commit(const SchedulerOutput& out);
  // Appends a sampled token to a running sequence (to be decoded next step).
  void append_token(SeqId id, int32_t token);
  // Drops a waiting or running sequence and releases its blocks at once (finish, cancel,
  // error). False if unknown.
  bool remove(SeqId id);

  const SchedSeq* find(SeqId id) const;
  // Caps the sequence's prefill chunks at max_tokens positions per step (a sequence whose
  // every position's logits are kept: its memory stays bounded). False if unknown.
  bool limit_chunks(SeqId id, int max_tokens);
  bool has_work() const { return !running_.empty() || n_waiting() > 0; }
  int n_running() const { return static_cast<int>(running_.size()); }
  int n_waiting() const { return static_cast<int>(waiting_[0].size() + waiting_[1].size()); }
  int n_waiting(Priority p) const { return static_cast<int>(waiting_[priority_index(p)].size()); }
  // Preemptions since construction (every sequence, every cause).
  int64_t n_preemptions() const { return n_preemptions_; }
  const SchedulerConfig& config() const { return config_; }
  KvCache& kv() { return kv_; }

 private:
  bool hold_for_timeout() const;
  bool schedule_running(SchedulerOutput& out, int& budget, Priority priority);
  bool admit_lane(Priority priority, SchedulerOutput& out, int& budget);
  bool admit(SchedSeq& seq, SchedulerOutput& out, int& budget);
  bool make_room(SchedSeq& seq, int n_positions, SchedulerOutput& out, int& budget);
  SchedSeq* newest_running(Priority priority) const;
  SchedSeq* victim_for() const;
  bool grow_blocks(SchedSeq& seq, int n_positions);
  int preempt(SchedSeq& seq, SchedulerOutput& out);
  int attach_cached_prefix(SchedSeq& seq);
  void release_blocks(SchedSeq& seq);
  void publish_full_blocks(SchedSeq& seq);

  KvCache& kv_;
  SchedulerConfig config_;
  const Clock* clock_;
  std::unordered_map<SeqId, std::unique_ptr<SchedSeq>> seqs_;
  std::vector<SchedSeq*> running_;  // admission order, oldest first
  std::deque<SchedSeq*> waiting_[kNumPriorities];  // by priority_index, FIFO
  int64_t n_preemptions_ = 0;
};

}  // namespace rs::engine
