// BrokerLoop: what the StoreWriter answers. An applied batch releases its turn's answers
// and replies (after the reads that waited for it); a failing batch makes the broker refuse
// new SUBMITs and the creates still held, while every other staged write stays queued in
// order and is applied when Redis answers again (docs/BROKER.md "When Redis fails").
#include <spdlog/spdlog.h>

#include <algorithm>

#include "rs/broker/loop/broker_loop.h"
#include "rs/schemas/errors.h"
#include "store_writer.h"
#include "turn_batch.h"

namespace rs::broker {

using schemas::ErrorCode;

void BrokerLoop::drain_store() {
  counters_.writer_cpu_ns.store(writer_->cpu_ns(), std::memory_order_relaxed);
  while (std::optional<StoreEvent> e = writer_->next_event()) {
    if (e->kind == StoreEvent::Kind::kFailing) {
      on_store_failing(*e);
    } else {
      on_store_applied(*e);
    }
  }
}

void BrokerLoop::on_store_applied(StoreEvent& event) {
  if (held_->empty() || held_->front().seq != event.seq) {
    spdlog::critical("broker: store writer applied batch {} out of order", event.seq);
    return;
  }
  HeldTurn held = std::move(held_->front());
  held_->pop_front();
  held_commands_ -= held.n_commands;
  counters_.held_commands.store(held_commands_, std::memory_order_relaxed);
  applied_seq_ = event.seq;
  if (event.attempts > 1) counters_.writes_retried.fetch_add(1, std::memory_order_relaxed);
  check_write_replies(held.batch, event.replies);
  answer_creates(held.batch, &event.replies);
  answer_reads(held.batch, event.replies, true);  // replays before the live tokens it releases
  send_outbox(held.batch);
  answer_reads(held.batch, event.replies, false);  // reads of ended jobs after their DONE
  run_deferred(event.seq);                          // PONGs after the answers before them
  if (store_failing_ && held_->empty()) {
    store_failing_ = false;
    spdlog::info("broker: redis answers again; every held write is applied");
  }
  if (dispatcher_.dispatch_paused()) update_dispatch_pause();
}

// Past max_held_writes held commands the broker stops dispatching (jobs already running go
// on); below it again, dispatch resumes with a pass over every queue.
void BrokerLoop::update_dispatch_pause() {
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

void BrokerLoop::on_store_failing(const StoreEvent& event) {
  counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
  if (!store_failing_) {
    counters_.store_outages.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn(
        "broker: redis write batch {} failed ({}); {} command(s) held and retried in "
        "order; new SUBMITs get unavailable until they are applied",
        event.seq, event.error.to_string(), held_commands_);
  }
  store_failing_ = true;
  refuse_held_creates(event.error);
  // Accepted jobs keep streaming from memory: their TOKENS go out now, in turn order, while
  // their writes (and DONE, ACCEPTED, DISPATCH) wait for Redis. With a journal, only those
  // of turns whose writes the writer has journaled.
  for (HeldTurn& held : *held_) {
    if (held.seq <= event.journaled_seq) held.releasable = true;
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
void BrokerLoop::refuse_held_creates(const Status& why) {
  Status s = schemas::wire_error(ErrorCode::kUnavailable, "job store: " + why.message());
  for (HeldTurn& held : *held_) {
    for (PendingCreate& pc : held.batch.creates()) {
      if (pc.answered || !pc.ingest_entry.empty()) continue;
      pc.answered = true;
      if (pc.admitted && !withdraw(pc.job_id)) continue;  // it already ended
      if (pc.dup_of < 0) {
        const std::string& key = pc.admitted ? std::string() : pc.request.idempotency_key;
        batch_->add_write(jobs_store_->discard_command(pc.job_id, key), WriteKind::kOther);
        counters_.creates_discarded.fetch_add(1, std::memory_order_relaxed);
      }
      counters_.rejected.fetch_add(1, std::memory_order_relaxed);
      count_error(ErrorCode::kUnavailable);
      send_client_now(pc.peer, schemas::Rejected{.request_id = pc.request_id,
                                                 .code = ErrorCode::kUnavailable,
                                                 .message = schemas::wire_error_message(s)});
    }
  }
}

bool BrokerLoop::store_ok() const {
  constexpr int64_t kReadGateNs = 100'000'000;  // a write batch unanswered this long: Redis lags
  if (store_failing_) return false;
  return held_->empty() || clock_.now_ns() - held_->front().submitted_ns < kReadGateNs;
}

uint64_t BrokerLoop::pending_seq() const {
  if (batch_->has_writes() || batch_->has_tokens()) return writer_->last_submitted() + 1;
  return held_->empty() ? 0 : held_->back().seq;
}

void BrokerLoop::defer_read(DeferredRead read) {
  if (!read.ping) return stage_read(std::move(read));
  read.after_seq = pending_seq();
  if (read.after_seq == 0) return send_pong(read);  // nothing staged: nothing to wait for
  deferred_.push_back(std::move(read));
}

// A read's commands go at the end of this turn's pipeline, after its writes: the StoreWriter
// runs them in order and their replies come back with the batch (answer_reads).
void BrokerLoop::stage_read(DeferredRead read) {
  std::vector<store::RedisCommand> commands;
  if (!read.subscribe) {
    commands.push_back(jobs_store_->load_command(read.job_id));
  } else if (read.live) {  // seqs [from, until): at most until - from groups
    commands.push_back(
        token_log_->read_command(read.job_id, read.from_seq, read.until_seq - read.from_seq));
  } else {
    commands.push_back(jobs_store_->load_command(read.job_id));
    commands.push_back(token_log_->read_command(read.job_id, read.from_seq));
  }
  batch_->add_read(std::move(read), std::move(commands));
}

// The answers to an applied batch's reads, sent at once: `live` the live jobs' replays
// (ahead of the live tokens the batch releases), else STATUS and SUBSCRIBE of ended jobs
// (after the batch's replies: a job's DONE comes first).
void BrokerLoop::answer_reads(TurnBatch& held, const std::vector<store::RedisReply>& replies,
                              bool live) {
  std::vector<DeferredRead>& reads = held.reads();
  if (reads.empty()) return;
  std::vector<std::vector<const store::RedisReply*>> by_read(reads.size());
  const std::vector<WriteKind>& kinds = held.kinds();
  for (size_t i = 0; i < replies.size() && i < kinds.size(); ++i) {
    if (kinds[i] == WriteKind::kRead) by_read[held.create_of()[i]].push_back(&replies[i]);
  }
  TurnBatch out;
  std::swap(*batch_, out);  // what the answers post goes to `out`
  for (size_t r = 0; r < reads.size(); ++r) {
    if ((reads[r].subscribe && reads[r].live) == live) answer_read(reads[r], by_read[r]);
  }
  std::swap(*batch_, out);
  send_outbox(out);
}

void BrokerLoop::answer_read(const DeferredRead& read,
                             const std::vector<const store::RedisReply*>& replies) {
  if (read.subscribe && !read.peer.empty()) {
    // A later SUBSCRIBE of this client to this job replaced this one: nothing to answer.
    if (!streams_.is_current(read.peer.front(), read.job_id, read.subscription)) return;
    if (read.live) streams_.replay_sent(read.peer.front(), read.job_id);  // live TOKENS follow
  }
  const size_t expected = read.subscribe && !read.live ? 2 : 1;
  if (replies.size() != expected) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    return reply_error(read.peer, read.request_id,
                       schemas::wire_error(ErrorCode::kUnavailable, "job store: no reply"),
                       read.job_id);
  }
  if (!read.subscribe) return status_ended(read, *replies[0]);
  if (!read.live) return subscribe_ended(read, *replies[0], *replies[1]);
  auto log = store::TokenLog::parse_read_reply(*replies[0], read.job_id, read.from_seq);
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
void BrokerLoop::run_deferred(uint64_t applied_seq) {
  std::erase_if(deferred_, [&](const DeferredRead& r) {
    if (r.after_seq > applied_seq) return false;
    send_pong(r);
    return true;
  });
}

void BrokerLoop::send_pong(const DeferredRead& ping) {
  send_client_now(ping.peer,
                  schemas::Pong{.request_id = ping.request_id, .broker_time_ms = now_unix_ms()});
}

}  // namespace rs::broker
