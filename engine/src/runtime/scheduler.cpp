// Scheduler: per step, interactive work (running, then admission), then batch work
// (running, then admission) unless an interactive prefill is in the step; decodes never
// starved by a prefill chunk of their priority; FIFO within a priority; preemption by
// recompute when the block pool runs dry or an interactive sequence needs room, batch
// sequences first.
#include "rs/engine/scheduler.h"

#include <algorithm>
#include <limits>
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

Status Scheduler::add(SeqId id, std::vector<int32_t> prompt, int max_tokens, Priority priority,
                      std::span<const int32_t> resumed, bool reuse_prefix) {
  if (prompt.empty()) return invalid_argument("empty prompt (no tokens)");
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt > config_.max_context) {
    return resource_exhausted("prompt has " + std::to_string(n_prompt) + " tokens, more than max_context " +
                            std::to_string(config_.max_context));
  }
  if (max_tokens < 0) return invalid_argument("max_tokens must be >= 0");
  if (seqs_.count(id) != 0) return invalid_argument("duplicate sequence id " + std::to_string(id));
  // The last sampled token never needs K/V, so a sequence holds at most
  // n_prompt + max_tokens - 1 positions (n_prompt when nothing is sampled); generation
  // stops at max_context tokens.
  const int eff_max = static_cast<int>(std::min<int64_t>(max_tokens, std::max<int64_t>(1, config_.max_context - n_prompt)));
  const int64_t positions = n_prompt + std::max(eff_max - 1, 0);
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
  seq->tokens.insert(seq->tokens.end(), resumed.begin(), resumed.end());
  seq->max_tokens = eff_max;
  seq->arrival_ns = clock_->now_ns();
  seq->priority = priority;
  seq->reuse_prefix = reuse_prefix;
  waiting_[priority_index(priority)].push_back(seq.get());
  seqs_.emplace(id, std::move(seq));
  return Status();
}

const SchedSeq* Scheduler::find(SeqId id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : it->second.get();
}

bool Scheduler::limit_chunks(SeqId id, int max_tokens) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  it->second->max_chunk_tokens = max_tokens;
  return true;
}

bool Scheduler::hold_for_timeout() const {
  if (config_.batch_timeout_ms <= 0 || !running_.empty() || n_waiting() == 0) return false;
  if (n_waiting() >= config_.max_batch_size) return false;
  int64_t oldest = std::numeric_limits<int64_t>::max();
  for (const auto& lane : waiting_) {
    for (const SchedSeq* s : lane) oldest = std::min(oldest, s->arrival_ns);
  }
  return clock_->now_ns() - oldest < static_cast<int64_t>(config_.batch_timeout_ms) * 1'000'000;
}

// Interactive work first: running interactive sequences, then interactive admissions. When
// that scheduled an interactive prefill chunk, batch work waits for the next step (the
// prefill alone sets the interactive time to first token); else running batch sequences,
// then batch admissions.
SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  if (hold_for_timeout()) return out;
  int budget = config_.max_batch_tokens;
  bool interactive_prefill = schedule_running(out, budget, Priority::kInteractive);
  // Admitting right after a preemption would only thrash the pool; an interactive sequence
  // may still get in by preempting batch ones, unless an interactive one was just preempted.
  const bool interactive_preempted =
      std::any_of(out.preempted.begin(), out.preempted.end(),
                  [this](SeqId id) { return find(id)->priority == Priority::kInteractive; });
  if (!interactive_preempted) {
    interactive_prefill |= admit_lane(Priority::kInteractive, out, budget);
  }
  if (interactive_prefill) return out;
  schedule_running(out, budget, Priority::kBatch);
  // A batch sequence never overtakes a waiting interactive one.
  if (out.preempted.empty() && waiting_[priority_index(Priority::kInteractive)].empty()) {
    admit_lane(Priority::kBatch, out, budget);
  }
  return out;
}

namespace {
// A chunk's positions within the sequence's own cap.
int capped(const SchedSeq& s, int n) { return s.max_chunk_tokens > 0 ? std::min(n, s.max_chunk_tokens) : n; }
}  // namespace

// The running sequences of one priority, in admission order. True if a prefill chunk (not
// a single decode token) was scheduled.
bool Scheduler::schedule_running(SchedulerOutput& out, int& budget, Priority priority) {
  auto pending = [](const SchedSeq* s) { return static_cast<int>(s->tokens.size()) - s->n_computed; };
  std::vector<SchedSeq*> order;
  for (SchedSeq* s : running_) {
    if (s->priority == priority) order.push_back(s);
  }
  int pending_decodes = 0;  // not yet scheduled decodes: a prefill chunk leaves them room
  for (const SchedSeq* s : order) pending_decodes += pending(s) == 1 ? 1 : 0;
  bool prefill = false;
  for (SchedSeq* s : order) {
    if (budget <= 0) break;
    if (!s->running) continue;  // preempted earlier in this pass
    const int remaining = pending(s);
    const bool decode = remaining == 1;
    if (decode) --pending_decodes;
    const int n = std::min(capped(*s, remaining), budget - (decode ? 0 : pending_decodes));
    if (n <= 0) continue;
    bool self_preempted = false;
    while (!grow_blocks(*s, s->n_computed + n)) {
      // Victims are newer batch sequences (not scheduled yet in this step) or s itself.
      SchedSeq* victim = victim_for();
      if (victim != s && victim->priority == priority && pending(victim) == 1) --pending_decodes;
      preempt(*victim, out);
      if (victim == s) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) continue;
    out.chunks.push_back({s->id, s->n_computed, n, n == remaining, false});
    out.n_tokens += n;
    budget -= n;
    prefill |= !decode;
  }
  return prefill;
}

// The head of the lane first, no overtaking within it. True if any was admitted.
bool Scheduler::admit_lane(Priority priority, SchedulerOutput& out, int& budget) {
  auto& lane = waiting_[priority_index(priority)];
  bool admitted = false;
  while (!lane.empty() && budget > 0 && admit(*lane.front(), out, budget)) admitted = true;
  return admitted;
}

// Moves the head of its lane to running with its first chunk; false (and nothing changed
// but preempted batch sequences) when there is no slot or block for it.
bool Scheduler::admit(SchedSeq& s, SchedulerOutput& out, int& budget) {
  const int cached = attach_cached_prefix(s);
  const int remaining = static_cast<int>(s.tokens.size()) - s.n_computed;
  const int n = std::min(capped(s, remaining), budget);
  if (!make_room(s, s.n_computed + n, out, budget) || !grow_blocks(s, s.n_computed + n)) {
    release_blocks(s);
    return false;
  }
  waiting_[priority_index(s.priority)].pop_front();
  running_.push_back(&s);
  s.running = true;
  s.cached_tokens = cached;
  out.chunks.push_back({s.id, s.n_computed, n, n == remaining, true});
  out.n_tokens += n;
  budget -= n;
  return true;
}

// A slot and the blocks for n_positions. An interactive sequence preempts running batch
// ones, newest first, only as many as needed, and none when even all of them would not do.
bool Scheduler::make_room(SchedSeq& s, int n_positions, SchedulerOutput& out, int& budget) {
  const int need = kv_.blocks_for(n_positions) - static_cast<int>(s.blocks.size());
  auto has_room = [&] {
    return static_cast<int>(running_.size()) < config_.max_batch_size &&
           need <= kv_.n_free_blocks();
  };
  if (has_room()) return true;
  if (s.priority != Priority::kInteractive) return false;
  int n_batch = 0;
  int batch_blocks = 0;
  for (const SchedSeq* r : running_) {
    if (r->priority != Priority::kBatch) continue;
    ++n_batch;
    batch_blocks += static_cast<int>(r->blocks.size());
  }
  if (n_batch == 0 || need > kv_.n_free_blocks() + batch_blocks) return false;
  while (!has_room()) {
    SchedSeq* victim = newest_running(Priority::kBatch);
    if (victim == nullptr) return false;
    budget += preempt(*victim, out);
  }
  return true;
}

SchedSeq* Scheduler::newest_running(Priority priority) const {
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    if ((*it)->priority == priority) return *it;
  }
  return nullptr;
}

// The newest batch sequence; the newest interactive one only when no batch one runs (so a
// batch sequence, which always finds itself at worst, never preempts an interactive one).
SchedSeq* Scheduler::victim_for() const {
  if (SchedSeq* v = newest_running(Priority::kBatch)) return v;
  return newest_running(Priority::kInteractive);
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

// Back to the front of its lane with its tokens kept (recomputed when readmitted). A chunk
// it already got this step is withdrawn: returns the tokens given back to the budget.
int Scheduler::preempt(SchedSeq& seq, SchedulerOutput& out) {
  release_blocks(seq);
  running_.erase(std::find(running_.begin(), running_.end(), &seq));
  seq.running = false;
  ++seq.n_preemptions;
  ++n_preemptions_;
  waiting_[priority_index(seq.priority)].push_front(&seq);
  out.preempted.push_back(seq.id);
  int refund = 0;
  auto it = std::find_if(out.chunks.begin(), out.chunks.end(),
                         [&](const ScheduledChunk& c) { return c.seq == seq.id; });
  if (it != out.chunks.end()) {
    refund = it->n_tokens;
    out.n_tokens -= refund;
    out.chunks.erase(it);
  }
  return refund;
}

int Scheduler::attach_cached_prefix(SchedSeq& seq) {
  if (!config_.prefix_cache || !seq.reuse_prefix) return 0;
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
    auto& lane = waiting_[priority_index(s->priority)];
    lane.erase(std::find(lane.begin(), lane.end(), s));
  }
  seqs_.erase(it);
  return true;
}

}  // namespace rs::engine
