// BrokerState: what the StoreWriter answers. An applied batch releases its turn's answers
// and replies (after the reads that waited for it); a failing batch makes the broker refuse
// new SUBMITs and the creates still held, while every other staged write stays queued in
// order and is applied when Redis answers again (docs/BROKER.md "When Redis fails").
#include <spdlog/spdlog.h>

#include <algorithm>

#include "rs/broker/broker_state.h"
#include "rs/schemas/errors.h"
#include "turn_batch.h"

namespace rs::broker {

using schemas::ErrorCode;

void BrokerState::on_batch_applied(uint64_t seq, int attempts, BatchReplies& replies) {
  if (held_->empty() || held_->front().seq != seq) {
    spdlog::critical("broker: store writer applied batch {} out of order", seq);
    return;
  }
  HeldTurn held = std::move(held_->front());
  held_->pop_front();
  held_commands_ -= held.n_commands;
  counters_.held_commands.store(held_commands_, std::memory_order_relaxed);
  applied_seq_ = seq;
  if (attempts > 1) counters_.writes_retried.fetch_add(1, std::memory_order_relaxed);
  check_write_replies(held.batch, replies.writes);
  answer_creates(held.batch, &replies);
  answer_reads(held.batch, replies, true);  // replays before the live tokens it releases
  send_outbox(held.batch);
  answer_reads(held.batch, replies, false);  // reads of ended jobs after their DONE
  run_deferred(seq);                          // PONGs after the answers before them
  if (held_->empty()) kept_.clear();
  if (store_failing_ && held_->empty()) {
    store_failing_ = false;
    spdlog::info("broker: redis answers again; every held write is applied");
  }
  if (dispatcher_.dispatch_paused()) update_dispatch_pause();
}

// Past max_held_writes held commands the broker stops dispatching (jobs already running go
// on); below it again, dispatch resumes with a pass over every queue.
void BrokerState::update_dispatch_pause() {
  const bool pause = held_commands_ >= options_.max_held_writes;
  if (pause == dispatcher_.dispatch_paused()) return;
  if (pause) {
    counters_.dispatch_pauses.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("broker: {} redis commands held (--max-held-writes {}); dispatch paused",
                 held_commands_, options_.max_held_writes);
  } else {
    spdlog::info("broker: held redis commands back under --max-held-writes; dispatch resumes");
  }
  execute(dispatcher_.set_dispatch_paused(pause));
}

void BrokerState::on_store_failing(uint64_t seq, const Status& error, uint64_t journaled_seq) {
  counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
  if (!store_failing_) {
    counters_.store_outages.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn(
        "broker: redis write batch {} failed ({}); {} command(s) held and retried in "
        "order; new SUBMITs get unavailable until they are applied",
        seq, error.to_string(), held_commands_);
  }
  store_failing_ = true;
  refuse_held_creates(error);
  // Accepted jobs keep streaming from memory: their TOKENS go out now, in turn order, while
  // their writes (and DONE, ACCEPTED, DISPATCH) wait for Redis. With a journal, only those
  // of turns whose writes the writer has journaled.
  for (HeldTurn& held : *held_) {
    if (held.seq <= journaled_seq) held.releasable = true;
  }
  release_held_tokens();
  // PINGs waiting behind the held writes are answered now: the broker is alive.
  for (const DeferredRead& r : deferred_) send_pong(r);
  deferred_.clear();
}

// SUBMITs whose creation is still held are answered REJECTED unavailable now (a client
// must not wait out an outage); each gets a discard write behind its create, so whatever
// of it reaches Redis is removed in order and it never runs. Ingest entries are not
// refused: their creation is applied when Redis is back (the entry is acked with it).
void BrokerState::refuse_held_creates(const Status& why) {
  Status s = schemas::wire_error(ErrorCode::kUnavailable, "job store: " + why.message());
  for (HeldTurn& held : *held_) {
    for (PendingCreate& pc : held.batch.creates()) {
      if (pc.answered || !pc.ingest_entry.empty()) continue;
      pc.answered = true;
      if (pc.admitted && !withdraw(pc.job_id)) continue;  // it already ended
      if (pc.dup_of < 0) {
        batch_->add_write(DiscardJob{
            .job = pc.job_id,
            .idempotency_key = pc.admitted ? std::string() : pc.request.idempotency_key});
        counters_.creates_discarded.fetch_add(1, std::memory_order_relaxed);
      }
      count_rejected(ErrorCode::kUnavailable);
      send_client_now(pc.peer, schemas::Rejected{.request_id = pc.request_id,
                                                 .code = ErrorCode::kUnavailable,
                                                 .message = schemas::wire_error_message(s)});
    }
  }
}

bool BrokerState::store_ok() const {
  constexpr int64_t kReadGateNs = 100'000'000;  // a write batch unanswered this long: Redis lags
  if (store_failing_) return false;
  return held_->empty() || clock_.now_ns() - held_->front().submitted_ns < kReadGateNs;
}

uint64_t BrokerState::pending_seq() const {
  if (batch_->has_writes() || batch_->has_tokens()) return last_submitted_seq_ + 1;
  return held_->empty() ? 0 : held_->back().seq;
}

void BrokerState::defer_read(DeferredRead read) {
  if (!read.ping) return stage_read(std::move(read));
  read.after_seq = pending_seq();
  if (read.after_seq == 0) return send_pong(read);  // nothing staged: nothing to wait for
  deferred_.push_back(std::move(read));
}

// A read's commands go at the end of this turn's pipeline, after its writes: the StoreWriter
// runs them in order and their replies come back with the batch (answer_reads).
void BrokerState::stage_read(DeferredRead read) {
  std::vector<StoreRead> reads;
  if (!read.subscribe) {
    reads.push_back(LoadRecord{.job = read.job_id});
  } else if (read.live) {  // seqs [from, until): at most until - from groups
    reads.push_back(ReadTokens{.job = read.job_id, .from_seq = read.from_seq,
                               .max_groups = read.until_seq - read.from_seq});
  } else {
    reads.push_back(LoadRecord{.job = read.job_id});
    reads.push_back(ReadTokens{.job = read.job_id, .from_seq = read.from_seq});
  }
  batch_->add_read(std::move(read), std::move(reads));
}

// The answers to an applied batch's reads, sent at once: `live` the live jobs' replays
// (ahead of the live tokens the batch releases), else STATUS and SUBSCRIBE of ended jobs
// (after the batch's replies: a job's DONE comes first).
void BrokerState::answer_reads(TurnBatch& held, BatchReplies& replies, bool live) {
  std::vector<DeferredRead>& reads = held.reads();
  if (reads.empty()) return;
  std::vector<std::vector<ReadResult*>> by_read(reads.size());
  const std::vector<size_t>& read_of = held.read_of();
  for (size_t i = 0; i < replies.reads.size() && i < read_of.size(); ++i) {
    by_read[read_of[i]].push_back(&replies.reads[i]);
  }
  TurnBatch out;
  std::swap(*batch_, out);  // what the answers post goes to `out`
  for (size_t r = 0; r < reads.size(); ++r) {
    if ((reads[r].subscribe && reads[r].live) == live) answer_read(reads[r], by_read[r]);
  }
  std::swap(*batch_, out);
  send_outbox(out);
}

void BrokerState::answer_read(const DeferredRead& read,
                              const std::vector<ReadResult*>& results) {
  if (read.subscribe && !read.peer.empty()) {
    // A later SUBSCRIBE of this client to this job replaced this one: nothing to answer.
    if (!streams_.is_current(read.peer.front(), read.job_id, read.subscription)) return;
    if (read.live) streams_.replay_sent(read.peer.front(), read.job_id);  // live TOKENS follow
  }
  const size_t expected = read.subscribe && !read.live ? 2 : 1;
  if (results.size() != expected) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    return reply_error(read.peer, read.request_id,
                       schemas::wire_error(ErrorCode::kUnavailable, "job store: no reply"),
                       read.job_id);
  }
  if (!read.subscribe) return status_ended(read, results[0]->record);
  if (!read.live) return subscribe_ended(read, results[0]->record, results[1]->log);
  Result<LogRead>& log = results[0]->log;
  if (!log.ok()) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    return reply_error(read.peer, read.request_id,
                       schemas::wire_error(ErrorCode::kUnavailable, log.status().message()),
                       read.job_id);
  }
  post_replay(read.peer, read.job_id, log->entries, read.from_seq, read.until_seq);
}

// PINGs waiting for batch applied_seq (or an earlier one) are answered: their PONG follows
// the answers to the requests before them.
void BrokerState::run_deferred(uint64_t applied_seq) {
  std::erase_if(deferred_, [&](const DeferredRead& r) {
    if (r.after_seq > applied_seq) return false;
    send_pong(r);
    return true;
  });
}

void BrokerState::send_pong(const DeferredRead& ping) {
  send_client_now(ping.peer,
                  schemas::Pong{.request_id = ping.request_id, .broker_time_ms = now_unix_ms()});
}

}  // namespace rs::broker
