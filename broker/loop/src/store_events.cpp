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
  run_deferred(event.seq, true);  // replays before the live tokens this batch releases
  send_outbox(held.batch);
  run_deferred(event.seq, false);  // reads of ended jobs after their DONE
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
  // PINGs waiting behind the held writes are answered now: the broker is alive.
  std::erase_if(deferred_, [&](const DeferredRead& r) {
    if (!r.ping) return false;
    send_client_now(r.peer,
                    schemas::Pong{.request_id = r.request_id, .broker_time_ms = now_unix_ms()});
    return true;
  });
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
  read.after_seq = pending_seq();
  if (read.after_seq == 0) return run_read(read);  // nothing staged: Redis is up to date
  deferred_.push_back(std::move(read));
}

// The reads waiting for batch applied_seq (or an earlier one) run now, their replies sent
// at once: a live job's replay ahead of the batch's own replies (its live tokens follow),
// the others (STATUS, SUBSCRIBE of an ended job) after them (the DONE comes first).
void BrokerLoop::run_deferred(uint64_t applied_seq, bool live_replays) {
  auto ready = [&](const DeferredRead& r) {
    return r.after_seq <= applied_seq && (r.subscribe && r.live) == live_replays;
  };
  if (std::none_of(deferred_.begin(), deferred_.end(), ready)) return;
  TurnBatch replies;
  std::swap(*batch_, replies);  // what the reads post goes to `replies`
  std::vector<DeferredRead> waiting;
  for (DeferredRead& r : deferred_) {
    if (ready(r))
      run_read(r);
    else
      waiting.push_back(std::move(r));
  }
  deferred_ = std::move(waiting);
  std::swap(*batch_, replies);
  send_outbox(replies);
}

void BrokerLoop::run_read(const DeferredRead& read) {
  if (read.ping) {
    return post_client(
        read.peer, schemas::Pong{.request_id = read.request_id, .broker_time_ms = now_unix_ms()});
  }
  if (!read.subscribe) return status_ended(read);
  if (!read.live) return subscribe_ended(read);
  Status s = replay(read.peer, read.job_id, read.from_seq, read.until_seq);
  if (!s.ok()) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    reply_error(read.peer, read.request_id,
                schemas::wire_error(ErrorCode::kUnavailable, s.message()), read.job_id);
  }
}

}  // namespace rs::broker
