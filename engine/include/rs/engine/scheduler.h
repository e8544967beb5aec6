// Scheduler: continuous batching over one KvCache (vLLM v1 style). It owns the token
// lists and block tables of the sequences in flight, decides each step's batch (running
// sequences first, then FIFO admission under batch-size, token and KV-block limits,
// chunked prefill, prefix-cache reuse, preemption by recompute). Pure: no model.
// Owned by one Engine; only the engine thread may call it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "rs/core/clock.h"
#include "rs/core/result.h"
#include "rs/engine/kv_cache.h"

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
  int max_tokens = 0;              // completion tokens allowed
  int n_computed = 0;              // leading positions whose K/V are in the cache
  std::vector<BlockId> blocks;
  std::vector<uint64_t> block_hashes;  // chain hashes of the leading full blocks (published or found)
  int cached_tokens = 0;           // positions served from the prefix cache at the last admission
  int64_t arrival_ns = 0;
  int n_preemptions = 0;
  bool running = false;
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

  // Queues a sequence. Rejects (invalid_argument / resource_exhausted) an empty prompt,
  // a prompt longer than max_context, max_tokens < 1, a duplicate id, or one whose
  // prompt + max_tokens could never fit in the whole KV pool.
  Status add(SeqId id, std::vector<int32_t> prompt, int max_tokens);
  // Decides this step's batch and allocates the blocks it needs. Empty when there is
  // nothing to do (or while batch_timeout_ms holds the first arrivals back).
  SchedulerOutput schedule();
  // After the forward of `out` succeeded: advances n_computed, publishes full blocks.
  void commit(const SchedulerOutput& out);
  // Appends a sampled token to a running sequence (to be decoded next step).
  void append_token(SeqId id, int32_t token);
  // Drops a waiting or running sequence and releases its blocks at once (finish, cancel,
  // error). False if unknown.
  bool remove(SeqId id);

  const SchedSeq* find(SeqId id) const;
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  int n_running() const { return static_cast<int>(running_.size()); }
  int n_waiting() const { return static_cast<int>(waiting_.size()); }
  const SchedulerConfig& config() const { return config_; }
  KvCache& kv() { return kv_; }

 private:
  bool hold_for_timeout() const;
  void schedule_running(SchedulerOutput& out, int& budget);
  void schedule_waiting(SchedulerOutput& out, int& budget);
  bool grow_blocks(SchedSeq& seq, int n_positions);
  void preempt(SchedSeq& seq, SchedulerOutput& out);
  int attach_cached_prefix(SchedSeq& seq);
  void release_blocks(SchedSeq& seq);
  void publish_full_blocks(SchedSeq& seq);

  KvCache& kv_;
  SchedulerConfig config_;
  const Clock* clock_;
  std::unordered_map<SeqId, std::unique_ptr<SchedSeq>> seqs_;
  std::vector<SchedSeq*> running_;  // admission order, oldest first
  std::deque<SchedSeq*> waiting_;
};

}  // namespace rs::engine
