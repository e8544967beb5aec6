// BrokerState: sending (through BrokerPorts). Replies are posted into the turn's batch and sent, never blocking,
// after its commit: a reply to a client whose pipe is full waits in ClientStreams (held
// replies, in order, bounded) and a stream message to it makes it `lagged`; the loop goes
// on. A DISPATCH that cannot be sent means its worker is gone.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "rs/broker/broker_state.h"
#include "turn_batch.h"

namespace rs::broker {

void BrokerState::post_client_frames(const RoutingIds& peer, schemas::Frames frames) {
  batch_->add_outgoing(Outgoing{.peer = peer, .frames = std::move(frames)});
}

void BrokerState::post_worker_frames(const std::string& worker, schemas::Frames frames,
                                    const std::string& dispatch_job) {
  batch_->add_outgoing(Outgoing{.to_worker = true, .job = dispatch_job, .worker = worker,
                                .frames = std::move(frames), .dispatch = !dispatch_job.empty()});
}

void BrokerState::post_stream_frames(const RoutingIds& peer, const JobId& job,
                                    schemas::Frames frames, uint64_t first_seq, bool tokens) {
  batch_->add_outgoing(Outgoing{.peer = peer,
                                .frames = std::move(frames),
                                .stream_job = job,
                                .stream_seq = first_seq,
                                .tokens = tokens,
                                .post_id = streams_.next_post()});
}

// A stream's TOKENS kept back (its replay is pending) go out when their turn is applied;
// so must every later TOKENS of that stream, or they would overtake them: `kept_` holds,
// per stream, the last held turn with one kept back.
void BrokerState::release_tokens(TurnBatch& batch, uint64_t seq) {
  for (Outgoing& out : batch.outbox()) {
    if (!out.tokens || out.frames.empty()) continue;
    auto key = std::make_pair(out.peer.front(), out.stream_job);
    auto kept = kept_.find(key);
    if (streams_.replay_pending(key.first, key.second) ||
        (kept != kept_.end() && kept->second > applied_seq_)) {
      kept_[key] = seq;  // after its replay (or the kept ones), when Redis answers
      continue;
    }
    send_to_client(out);
    out.frames.clear();
  }
}

void BrokerState::release_held_tokens() {
  if (held_->empty()) return;
  const uint64_t front = held_->front().seq;
  for (size_t i = released_seq_ >= front ? released_seq_ - front + 1 : 0; i < held_->size(); ++i) {
    HeldTurn& held = (*held_)[i];
    if (!held.releasable) return;
    release_tokens(held.batch, held.seq);
    released_seq_ = held.seq;
  }
}

void BrokerState::send_outbox(TurnBatch& batch) {
  std::vector<std::string> lost;
  for (Outgoing& out : batch.outbox()) {
    if (out.frames.empty()) continue;  // withdrawn
    if (!out.to_worker) {
      send_to_client(out);
      continue;
    }
    auto route = worker_routes_.find(out.worker);
    SendResult s = route == worker_routes_.end() ? SendResult::kUnroutable
                                                 : ports_.send_worker(route->second, out.frames);
    if (s == SendResult::kSent) continue;
    counters_.send_failures.fetch_add(1, std::memory_order_relaxed);
    if (out.dispatch) lost.push_back(out.worker);
  }
  for (const std::string& worker : lost) {
    // Unroutable or full: the worker is gone for us; its jobs move on (next turn).
    if (!dispatcher_.workers().contains(worker)) continue;
    spdlog::warn("broker: DISPATCH to worker {} failed; dropping the worker", worker);
    forget_worker_route(worker);
    execute(dispatcher_.on_worker_disconnect(worker));
  }
}

void BrokerState::send_to_client(Outgoing& out) {
  // A lagged stream sends nothing more (held turns posted before the lag included); once
  // the client subscribes again, only what was posted since.
  const bool stream = !out.stream_job.empty();
  if (stream && !streams_.may_send(out.peer.front(), out.stream_job, out.post_id)) return;
  // Behind replies that wait for room: a reply waits too (in order), a stream message
  // does not fit (the client is `lagged` from it).
  const bool behind = streams_.has_held_replies(out.peer.front());
  SendResult s = behind ? SendResult::kWouldBlock : ports_.send_client(out.peer, out.frames);
  if (!behind) note_client_send(out.peer, s);
  if (s == SendResult::kSent) return;
  if (s == SendResult::kWouldBlock && stream) {
    on_client_lagged(out.peer, out.stream_job, out.stream_seq);
  } else if (s == SendResult::kWouldBlock) {
    hold_reply(out.peer, std::move(out.frames));
  } else {
    counters_.send_failures.fetch_add(1, std::memory_order_relaxed);
  }
}

void BrokerState::send_client_now(const RoutingIds& peer, const schemas::Message& message) {
  if (!peer.empty() && streams_.has_held_replies(peer.front())) {
    return hold_reply(peer, schemas::to_frames(message));
  }
  schemas::Frames frames = schemas::to_frames(message);
  SendResult s = ports_.send_client(peer, frames);
  note_client_send(peer, s);
  if (s == SendResult::kSent) return;
  if (s == SendResult::kWouldBlock) {
    hold_reply(peer, std::move(frames));
  } else {
    counters_.send_failures.fetch_add(1, std::memory_order_relaxed);
  }
}

// A reply the client's full queue did not take waits for room, in order with the client's
// later replies (send_lag_notices retries them each turn); past ClientStreams'
// kMaxHeldReplies for one client it is dropped and counted.
void BrokerState::hold_reply(const RoutingIds& peer, schemas::Frames frames) {
  if (streams_.hold_reply(peer, std::move(frames))) {
    counters_.replies_held.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.client_drops.fetch_add(1, std::memory_order_relaxed);
  }
}

// The client is dropped from the job's stream (it re-SUBSCRIBEs from its last seq on the
// `lagged` ERROR, and the log has everything it missed); the ERROR waits until its queue
// has room. next_seq: the first seq of the message that did not fit (the job's stream to
// this client goes out in seq order, so every seq below it was sent).
void BrokerState::on_client_lagged(const RoutingIds& peer, const JobId& job,
                                  uint64_t next_seq) {
  counters_.clients_lagged.fetch_add(1, std::memory_order_relaxed);
  streams_.on_lagged(peer, job, next_seq);
  if (LiveJob* found = live_job(job)) {
    LiveJob& live = *found;
    std::erase_if(live.subscribers, [&](const Subscriber& s) { return s.peer == peer; });
    if (live.submitter == peer) live.submitter_subscribed = true;  // no direct tokens any more
  }
}

void BrokerState::send_lag_notices() {
  if (held_->empty()) {  // nothing of an ended job can still be on its way: forget its cuts
    streams_.forget_ended([&](const JobId& job) { return is_live(job); });
  }
  streams_.send_held_replies([&](const ClientStreams::HeldReply& r) {
    SendResult s = ports_.send_client(r.peer, r.frames);
    note_client_send(r.peer, s);
    return s != SendResult::kWouldBlock;  // sent, or the client is gone
  });
  streams_.send_notices([&](const ClientStreams::LagNotice& n) {
    if (streams_.has_held_replies(n.peer.front())) return false;  // after its replies
    schemas::ErrorReply e{.code = schemas::ErrorCode::kLagged,
                          .message = "fell behind by more than " +
                                     std::to_string(options_.client_sndhwm) +
                                     " messages: SUBSCRIBE again from seq " +
                                     std::to_string(n.next_seq),
                          .job_id = n.job,
                          .next_seq = n.next_seq};
    SendResult s = ports_.send_client(n.peer, schemas::make_frames(e));
    note_client_send(n.peer, s);
    return s != SendResult::kWouldBlock;
  });
}

bool BrokerState::send_worker_now(const std::string& worker, const schemas::Message& message) {
  auto it = worker_routes_.find(worker);
  if (it == worker_routes_.end()) return false;
  SendResult s = ports_.send_worker(it->second, schemas::to_frames(message));
  if (s == SendResult::kSent) return true;
  counters_.send_failures.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("broker: send to worker {} failed ({})", worker,
               s == SendResult::kWouldBlock ? "its queue is full" : "unroutable");
  return false;
}

void BrokerState::forget_worker_route(const std::string& worker) {
  if (auto it = worker_routes_.find(worker); it != worker_routes_.end()) {
    peer_workers_.erase(it->second.front());
    worker_routes_.erase(it);
    std::erase_if(worker_fds_, [&](const auto& entry) { return entry.second == worker; });
  }
  loads_.erase(worker);
}

}  // namespace rs::broker
