// BrokerState: the end of a turn. Every Redis write the turn staged goes to the StoreWriter
// as one pipeline; once it is applied (store_events.cpp), new jobs are answered (ACCEPTED
// only once they are in Redis) and admitted to the Dispatcher, and the turn's replies are
// sent. A DISPATCH an admission causes is staged for the next turn, whose batch writes
// DISPATCHED first. A turn without writes sends at once, or behind the held turns.
#include <algorithm>
#include <spdlog/spdlog.h>

#include "rs/broker/broker_state.h"
#include "rs/broker/router.h"
#include "rs/schemas/errors.h"
#include "turn_batch.h"

namespace rs::broker {

using schemas::ErrorCode;

void BrokerState::commit() {
  for (const auto& group : batch_->take_all_tokens()) stage_token_appends(group);
  if (batch_->empty()) return;
  TurnBatch batch = std::move(*batch_);
  *batch_ = TurnBatch();
  batch_->reserve_like(batch);
  counters_.turns.fetch_add(1, std::memory_order_relaxed);
  if (!batch.has_writes()) {
    // Accepted jobs stream from memory while Redis fails (once the turns before are released).
    if (store_failing_ && (held_->empty() || held_->back().seq <= released_seq_)) {
      release_tokens(batch, held_->empty() ? 0 : held_->back().seq);  // joins that turn
    }
    if (held_->empty()) return send_outbox(batch);
    held_->back().batch.append_outbox(std::move(batch.outbox()));
    return;
  }
  BrokerPorts::Submitted sub = ports_.submit(batch.take_batch());
  const size_t n = sub.n_commands;
  const uint64_t seq = sub.seq;
  const bool releasable = sub.releasable;
  last_submitted_seq_ = seq;
  counters_.redis_round_trips.fetch_add(1, std::memory_order_relaxed);
  held_->push_back(HeldTurn{.seq = seq, .n_commands = n, .submitted_ns = clock_.now_ns(),
                            .releasable = releasable, .batch = std::move(batch)});
  if (store_failing_) release_held_tokens();  // its TOKENS, once in the journal (if any)
  held_commands_ += n;
  counters_.held_commands.store(held_commands_, std::memory_order_relaxed);
  if (held_commands_ >= options_.max_held_writes) update_dispatch_pause();
}

void BrokerState::check_write_replies(TurnBatch& batch, const std::vector<WriteResult>& results) {
  const std::vector<size_t>& create_of = batch.create_of();
  for (size_t i = 0; i < results.size(); ++i) {
    if (i < create_of.size() && create_of[i] != SIZE_MAX) continue;  // answered apart
    if (results[i].duplicates != 0) counters_.stale_dropped.fetch_add(1, std::memory_order_relaxed);
    if (results[i].status.ok()) continue;
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("broker: redis write refused: {}", results[i].status.message());
  }
}

// Each create's reply (or the whole pipeline's failure) decides its answer. A create with
// the same idempotency key as an earlier one of this turn shares that one's result.
void BrokerState::answer_creates(TurnBatch& batch, const BatchReplies* replies) {
  std::vector<PendingCreate>& creates = batch.creates();
  if (creates.empty()) return;
  std::vector<Result<CreateOutcome>> results(
      creates.size(), Result<CreateOutcome>(internal_error("no reply")));
  if (replies == nullptr) {
    for (auto& r : results) r = io_error("no reply from redis");
  } else {
    const auto& create_of = batch.create_of();
    for (size_t i = 0; i < replies->writes.size() && i < create_of.size(); ++i) {
      if (create_of[i] == SIZE_MAX) continue;
      const WriteResult& w = replies->writes[i];
      if (w.status.ok()) results[create_of[i]] = w.create;
      else results[create_of[i]] = w.status;
    }
  }
  for (size_t i = 0; i < creates.size(); ++i) {
    PendingCreate& pc = creates[i];
    if (pc.answered) continue;
    const bool dup_in_turn = pc.dup_of >= 0;
    answer_create(batch, pc, dup_in_turn ? results[pc.dup_of] : results[i], dup_in_turn);
  }
}

// Answers go out with this turn's replies; admissions stage into the next turn.
void BrokerState::answer_create(TurnBatch& batch, PendingCreate& pc,
                               const Result<CreateOutcome>& r, bool dup_in_turn) {
  if (!pc.ingest_entry.empty()) return answer_ingest(pc, r, dup_in_turn);  // no client to answer
  auto answer = [&](const schemas::Message& m) {
    batch.add_outgoing(Outgoing{.peer = pc.peer, .frames = schemas::to_frames(m)});
  };
  if (!r.ok()) {
    if (!dup_in_turn) counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    if (pc.admitted && !withdraw(pc.job_id)) return;  // it already ended: told so
    Status s = wire_error(ErrorCode::kUnavailable, "job store: " + r.status().message());
    count_rejected(ErrorCode::kUnavailable);
    send_client_now(pc.peer, schemas::Rejected{.request_id = pc.request_id,
                                               .code = ErrorCode::kUnavailable,
                                               .message = schemas::wire_error_message(s)});
    return;
  }
  if (pc.admitted) {  // ACCEPTED is already in the outbox
    if (!dup_in_turn && r->created) {
      if (const LiveJob* live = live_job(pc.job_id)) {  // pc.request went to the job
        metrics_->accepted(live->request.model, live->request.priority);
        spdlog::debug("broker: job {} accepted (model {})", pc.job_id, live->request.model);
      }
    }
    return;
  }
  if (dup_in_turn || !r->created) {  // the new id never became a job
    batch_->add_write(RemoveLive{.job = pc.job_id});
    answer(schemas::Accepted{.request_id = pc.request_id, .job_id = r->job_id, .duplicate = true});
    return;
  }
  // Redis has the job: ACCEPTED goes out now, its DISPATCH after the next commit.
  answer(schemas::Accepted{.request_id = pc.request_id, .job_id = r->job_id});
  metrics_->accepted(pc.request.model, pc.request.priority);
  spdlog::debug("broker: job {} accepted (model {})", r->job_id, pc.request.model);
  admit(std::move(pc.peer), std::move(pc.request), std::move(pc.record));
}

// An admitted job whose create failed: unsend its ACCEPTED and DISPATCH (in whichever held
// turn they wait), give its slot (or queue place) back and forget it. False if it had
// already ended (its DONE stands).
bool BrokerState::withdraw(const JobId& job) {
  LiveJob* live = live_job(job);
  if (live == nullptr) return false;
  for (HeldTurn& held : *held_) held.batch.withdraw_outgoing(job);
  batch_->withdraw_outgoing(job);
  const schemas::JobRecord record = live->record;
  if (record.state == schemas::JobState::kDispatched && record.device >= 0) {
    EndResult r = dispatcher_.on_job_ended(
        job, record.attempt, DeviceKey{record.worker, static_cast<uint32_t>(record.device)});
    jobs_.erase(job);
    execute(r.actions);  // refills stage into the next turn
    return true;
  }
  (void)dispatcher_.on_cancel(job);  // queued: removed, the kCancelled action is not ours
  jobs_.erase(job);
  return true;
}

std::string route_prompt(const schemas::SubmitRequest& request) {
  if (request.prompt_ids.empty()) return request.prompt;
  const size_t n = std::min(request.prompt_ids.size() * sizeof(int32_t), kRoutePromptBytes);
  return std::string(reinterpret_cast<const char*>(request.prompt_ids.data()), n);
}

void BrokerState::admit(RoutingIds peer, schemas::SubmitRequest request,
                       schemas::JobRecord record, std::string batch, std::string item_id) {
  const JobId id = record.job_id;
  JobSubmit submit{.id = id, .model = request.model,
                   .priority = request.priority,
                   .route_key = routing_key(RouteRequest{request.model, request.affinity_key,
                                                         request.session_id, route_prompt(request)}),
                   .session_id = request.session_id};
  if (request.expires_ms != 0) {
    submit.expires_ns = clock_.now_ns() + static_cast<int64_t>(std::min<uint64_t>(
                                              request.expires_ms, uint64_t{1} << 40)) * 1'000'000;
  }
  if (jobs_.insert(id, LiveJob{.request = std::move(request), .record = std::move(record),
                               .submitter = std::move(peer), .accepted_ns = clock_.now_ns(),
                               .batch = std::move(batch), .item_id = std::move(item_id)}) ==
      nullptr) {
    spdlog::error("broker: job {} created in redis is already live here; ignored", id);
    return;
  }
  Actions actions = dispatcher_.on_job_submitted(submit);
  for (const Action& a : actions) {
    if (a.kind == ActionKind::kReject) {
      end_job(id, schemas::JobState::kFailed,
              a.reason == Reason::kQueueFull ? ErrorCode::kQueueFull : ErrorCode::kInternal,
              a.detail, nullptr);
    }
  }
  execute(actions);
}

}  // namespace rs::broker
