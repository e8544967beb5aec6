// Scheduler: per step, running sequences first (decodes never starved by a prefill
// chunk), then FIFO admission; preemption by recompute when the block pool runs dry.
#include "rs/engine/scheduler.h"

#include <algorithm>
#include <string>

namespace rs::engine {

Scheduler::Scheduler(KvCache& kv, SchedulerConfig config, const Clock* clock)
    : kv_(kv), config_(config), clock_(clock != nullptr ? clock : &SteadyClock::instance()) {
  config_.max_batch_size = std::max(1, config_.max_batch_size);
  config_.max_batch_tokens = std::max(1, config_.max_batch_tokens);
  config_.max_context = std::max(1, config_.max_context);
}

Scheduler::~Scheduler() {
  for (auto& [id, seq] : seqs_) release_blocks(*seq);
}

Status Scheduler::add(SeqId id, std::vector<int32_t> prompt, int max_tokens) {
  if (prompt.empty()) return invalid_argument("empty prompt (no tokens)");
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt > config_.max_context) {
    return invalid_argument("prompt has " + std::to_string(n_prompt) + " tokens, more than max_context " +
                            std::to_string(config_.max_context));
  }
  if (max_tokens < 1) return invalid_argument("max_tokens must be >= 1");
  if (seqs_.count(id) != 0) return invalid_argument("duplicate sequence id " + std::to_string(id));
  // The last sampled token never needs K/V, so a sequence holds at most
  // n_prompt + max_tokens - 1 positions; generation stops at max_context tokens.
  const int eff_max = static_cast<int>(std::min<int64_t>(max_tokens, std::max<int64_t>(1, config_.max_context - n_prompt)));
  const int64_t positions = n_prompt + eff_max - 1;
  if (kv_.blocks_for(positions) > kv_.n_blocks()) {
    return resource_exhausted("request needs " + std::to_string(kv_.blocks_for(positions)) +
                              " KV blocks (prompt " + std::to_string(n_prompt) + " + max_tokens " +
                              std::to_string(eff_max) + "), more than the whole pool of " +
                              std::to_string(kv_.n_blocks()));
  }
  auto seq = std::make_unique<SchedSeq>();
  seq->id = id;
  seq->n_prompt = static_cast<int>(n_prompt);
  seq->tokens = std::move(prompt);
  seq->max_tokens = eff_max;
  seq->arrival_ns = clock_->now_ns();
  waiting_.push_back(seq.get());
  seqs_.emplace(id, std::move(seq));
  return Status();
}

const SchedSeq* Scheduler::find(SeqId id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : it->second.get();
}

bool Scheduler::hold_for_timeout() const {
  if (config_.batch_timeout_ms <= 0 || !running_.empty() || waiting_.empty()) return false;
  if (static_cast<int>(waiting_.size()) >= config_.max_batch_size) return false;
  int64_t oldest = waiting_.front()->arrival_ns;
  for (const SchedSeq* s : waiting_) oldest = std::min(oldest, s->arrival_ns);
  return clock_->now_ns() - oldest < static_cast<int64_t>(config_.batch_timeout_ms) * 1'000'000;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  if (hold_for_timeout()) return out;
  int budget = config_.max_batch_tokens;
  schedule_running(out, budget);
  // Admitting right after a preemption would only thrash the pool.
  if (out.preempted.empty()) schedule_waiting(out, budget);
  return out;
}

void Scheduler::schedule_running(SchedulerOutput& out, int& budget) {
  auto pending = [](const SchedSeq* s) { return static_cast<int>(s->tokens.size()) - s->n_computed; };
  int pending_decodes = 0;  // not yet scheduled decodes: a prefill chunk leaves them room
  for (const SchedSeq* s : running_) pending_decodes += pending(s) == 1 ? 1 : 0;
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    SchedSeq* s = running_[i];
    const int remaining = pending(s);
    const bool decode = remaining == 1;
    if (decode) --pending_decodes;
    const int n = std::min(remaining, budget - (decode ? 0 : pending_decodes));
    if (n <= 0) continue;
    bool self_preempted = false;
    while (!grow_blocks(*s, s->n_computed + n)) {
      SchedSeq* victim = running_.back();
      if (victim != s && pending(victim) == 1) --pending_decodes;
      preempt(*victim, out);
      if (victim == s) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    out.chunks.push_back({s->id, s->n_computed, n, n == remaining, false});
    out.n_tokens += n;
    budget -= n;
  }
}

void Scheduler::schedule_waiting(SchedulerOutput& out, int& budget) {
  while (!waiting_.empty() && budget > 0 && static_cast<int>(running_.size()) < config_.max_batch_size) {
    SchedSeq* s = waiting_.front();
    const int cached = attach_cached_prefix(*s);
    const int remaining = static_cast<int>(s->tokens.size()) - s->n_computed;
    const int n = std::min(remaining, budget);
    if (!grow_blocks(*s, s->n_computed + n)) {
      release_blocks(*s);
      break;  // FIFO: no overtaking
    }
    waiting_.pop_front();
    running_.push_back(s);
    s->running = true;
    s->cached_tokens = cached;
    out.chunks.push_back({s->id, s->n_computed, n, n == remaining, true});
    out.n_tokens += n;
    budget -= n;
  }
}

bool Scheduler::grow_blocks(SchedSeq& seq, int n_positions) {
  const int need = kv_.blocks_for(n_positions) - static_cast<int>(seq.blocks.size());
  if (need <= 0) return true;
  if (need > kv_.n_free_blocks()) return false;
  for (int i = 0; i < need; ++i) {
    std::optional<BlockId> b = kv_.allocate();
    if (!b) return false;
    seq.blocks.push_back(*b);
  }
  return true;
}

void Scheduler::preempt(SchedSeq& seq, SchedulerOutput& out) {
  release_blocks(seq);
  running_.erase(std::find(running_.begin(), running_.end(), &seq));
  seq.running = false;
  ++seq.n_preemptions;
  waiting_.push_front(&seq);
  out.preempted.push_back(seq.id);
}

int Scheduler::attach_cached_prefix(SchedSeq& seq) {
  if (!config_.prefix_cache) return 0;
  const int bt = kv_.config().block_tokens;
  // At least the last token is computed: its logits are needed.
  const int max_blocks = (static_cast<int>(seq.tokens.size()) - 1) / bt;
  uint64_t h = 0;
  for (int i = 0; i < max_blocks; ++i) {
    h = KvCache::chain_hash(h, std::span<const int32_t>(seq.tokens).subspan(static_cast<size_t>(i) * bt, bt));
    std::optional<BlockId> b = kv_.lookup(h);
    if (!b) break;
    seq.blocks.push_back(*b);
    seq.block_hashes.push_back(h);
  }
  seq.n_computed = static_cast<int>(seq.blocks.size()) * bt;
  return seq.n_computed;
}

void Scheduler::release_blocks(SchedSeq& seq) {
  for (BlockId b : seq.blocks) kv_.release(b);
  seq.blocks.clear();
  seq.block_hashes.clear();
  seq.n_computed = 0;
}

void Scheduler::publish_full_blocks(SchedSeq& seq) {
  if (!config_.prefix_cache) return;
  const int bt = kv_.config().block_tokens;
  const size_t full = static_cast<size_t>(seq.n_computed / bt);
  while (seq.block_hashes.size() < full && seq.block_hashes.size() < seq.blocks.size()) {
    const size_t i = seq.block_hashes.size();
    const uint64_t prev = i == 0 ? 0 : seq.block_hashes[i - 1];
    const uint64_t h = KvCache::chain_hash(prev, std::span<const int32_t>(seq.tokens).subspan(i * bt, bt));
    kv_.publish(seq.blocks[i], h);
    seq.block_hashes.push_back(h);
  }
}

void Scheduler::commit(const SchedulerOutput& out) {
  for (const ScheduledChunk& c : out.chunks) {
    auto it = seqs_.find(c.seq);
    if (it == seqs_.end()) continue;
    SchedSeq& s = *it->second;
    if (!s.running || s.n_computed != c.pos0) continue;
    s.n_computed += c.n_tokens;
    publish_full_blocks(s);
  }
}

void Scheduler::append_token(SeqId id, int32_t token) {
  auto it = seqs_.find(id);
  if (it != seqs_.end()) it->second->tokens.push_back(token);
}

bool Scheduler::remove(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  SchedSeq* s = it->second.get();
  release_blocks(*s);
  if (s->running) {
    running_.erase(std::find(running_.begin(), running_.end(), s));
  } else {
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), s));
  }
  seqs_.erase(it);
  return true;
}

}  // namespace rs::engine
