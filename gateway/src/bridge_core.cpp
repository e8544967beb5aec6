// BridgeCore: request correlation, job fan-out, timeouts and re-subscription.
#include "bridge_core.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "rs/schemas/errors.h"

namespace rs::gateway {

using Kind = BridgeCommand::Kind;

namespace {

Status unreachable(const char* why) {
  return schemas::wire_error(schemas::ErrorCode::kUnavailable,
                             std::string("broker unreachable: ") + why);
}

}  // namespace

void BridgeCore::deliver_error(const Listener& listener, const std::string& job_id, Status error) {
  if (!listener) return;
  BridgeEvent e;
  e.kind = BridgeEvent::Kind::kError;
  e.job_id = job_id;
  e.error = std::move(error);
  listener(std::move(e));
}

void BridgeCore::send_request(const BrokerRequest& request, Pending pending, int64_t now_ms) {
  auto id = send_(request);
  if (!id.ok()) {
    if (pending.kind == Kind::kSubscribe) {
      // Keep the listener: a re-subscription after the broker comes back serves it.
      if (broker_up_) deliver_error(pending.listener, pending.job_id, id.status());
      return;
    }
    deliver_error(pending.listener, pending.job_id, id.status());
    return;
  }
  pending.deadline_ms = now_ms + options_.request_timeout_ms;
  pending_.emplace(*id, std::move(pending));
}

void BridgeCore::on_command(BridgeCommand command, int64_t now_ms) {
  Pending p{.kind = command.kind,
            .listener_id = command.listener_id,
            .listener = command.listener,
            .job_id = command.job_id};
  switch (command.kind) {
    case Kind::kSubmit:
      return send_request(std::move(command.submit), std::move(p), now_ms);
    case Kind::kSubscribe:
      jobs_[command.job_id].push_back(JobListener{command.listener_id, command.listener});
      return send_request(
          schemas::SubscribeRequest{.job_id = command.job_id, .from_seq = command.from_seq},
          std::move(p), now_ms);
    case Kind::kStatus:
      return send_request(schemas::StatusRequest{.job_id = command.job_id}, std::move(p), now_ms);
    case Kind::kCancel:
      return send_request(schemas::CancelRequest{.job_id = command.job_id}, std::move(p), now_ms);
    case Kind::kWorkers:
      return send_request(schemas::WorkersRequest{}, std::move(p), now_ms);
    case Kind::kUnlisten:
      return unlisten(command.listener_id);
  }
}

void BridgeCore::unlisten(uint64_t listener_id) {
  if (listener_id == 0) return;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    auto& v = it->second;
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const JobListener& l) { return l.listener_id == listener_id; }),
            v.end());
    it = v.empty() ? jobs_.erase(it) : std::next(it);
  }
  for (auto& [id, p] : pending_) {
    if (p.listener_id == listener_id) p.listener = nullptr;
  }
}

void BridgeCore::on_message(schemas::Message message, int64_t now_ms) {
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, schemas::TokenBatch>) {
          on_tokens(m.entries);
        } else if constexpr (std::is_same_v<T, schemas::Done>) {
          on_done(m.record);
        } else if constexpr (std::is_same_v<T, schemas::Pong>) {
          if (m.request_id == ping_id_)
            on_pong(now_ms);
          else
            on_reply(m.request_id, message);
        } else if constexpr (std::is_same_v<T, schemas::ErrorReply>) {
          if (m.request_id == 0 && !m.job_id.empty()) {
            auto it = jobs_.find(m.job_id);
            if (it == jobs_.end()) return;
            auto listeners = std::move(it->second);
            jobs_.erase(it);
            for (auto& l : listeners)
              deliver_error(l.listener, m.job_id, schemas::wire_error(m.code, m.message));
          } else {
            on_reply(m.request_id, message);
          }
        } else if constexpr (std::is_same_v<T, schemas::Accepted> ||
                             std::is_same_v<T, schemas::Rejected> ||
                             std::is_same_v<T, schemas::StatusReply> ||
                             std::is_same_v<T, schemas::WorkersReply>) {
          on_reply(m.request_id, message);
        }
      },
      message);
}

void BridgeCore::on_reply(uint64_t request_id, schemas::Message& message) {
  auto it = pending_.find(request_id);
  if (it == pending_.end()) return;  // timed out already
  Pending p = std::move(it->second);
  pending_.erase(it);
  BridgeEvent e;
  e.job_id = p.job_id;
  if (auto* a = std::get_if<schemas::Accepted>(&message)) {
    if (p.listener) jobs_[a->job_id].push_back(JobListener{p.listener_id, p.listener});
    e.kind = BridgeEvent::Kind::kAccepted;
    e.job_id = a->job_id;
  } else if (auto* r = std::get_if<schemas::Rejected>(&message)) {
    e.kind = BridgeEvent::Kind::kError;
    e.error = schemas::wire_error(r->code, r->message);
  } else if (auto* er = std::get_if<schemas::ErrorReply>(&message)) {
    e.kind = BridgeEvent::Kind::kError;
    e.error = schemas::wire_error(er->code, er->message);
    if (p.kind == Kind::kSubscribe) {  // the subscription did not take
      auto j = jobs_.find(p.job_id);
      if (j != jobs_.end()) {
        auto& v = j->second;
        v.erase(
            std::remove_if(v.begin(), v.end(),
                           [&](const JobListener& l) { return l.listener_id == p.listener_id; }),
            v.end());
        if (v.empty()) jobs_.erase(j);
      }
    }
  } else if (auto* s = std::get_if<schemas::StatusReply>(&message)) {
    e.kind = BridgeEvent::Kind::kStatus;
    e.record = std::move(s->record);
  } else if (auto* w = std::get_if<schemas::WorkersReply>(&message)) {
    e.kind = BridgeEvent::Kind::kWorkers;
    e.devices = std::move(w->devices);
  } else {
    return;
  }
  if (p.listener) p.listener(std::move(e));
}

void BridgeCore::on_tokens(std::vector<schemas::TokenEntry>& entries) {
  // Group by job, keeping each job's order.
  std::unordered_map<std::string, std::vector<schemas::TokenEntry>> by_job;
  for (auto& e : entries) by_job[e.job_id].push_back(std::move(e));
  for (auto& [job, tokens] : by_job) {
    auto it = jobs_.find(job);
    if (it == jobs_.end()) continue;
    for (auto& l : it->second) {
      BridgeEvent e;
      e.kind = BridgeEvent::Kind::kTokens;
      e.job_id = job;
      e.tokens = tokens;
      l.listener(std::move(e));
    }
  }
}

void BridgeCore::on_done(schemas::JobRecord& record) {
  auto it = jobs_.find(record.job_id);
  if (it == jobs_.end()) return;
  auto listeners = std::move(it->second);
  jobs_.erase(it);
  for (auto& l : listeners) {
    BridgeEvent e;
    e.kind = BridgeEvent::Kind::kDone;
    e.job_id = record.job_id;
    e.record = record;
    l.listener(std::move(e));
  }
}

void BridgeCore::on_pong(int64_t now_ms) {
  last_pong_ms_ = now_ms;
  if (!broker_up_) on_link_restored(now_ms);
}

void BridgeCore::on_link_lost() {
  broker_up_ = false;
}

void BridgeCore::on_link_restored(int64_t now_ms) {
  const bool was_down = !broker_up_;
  broker_up_ = true;
  last_pong_ms_ = now_ms;
  if (was_down) resubscribe_all(now_ms);
}

// A broker that restarted knows nothing of this gateway's streams: ask again from seq 0
// (every listener drops what it has already, by seq).
void BridgeCore::resubscribe_all(int64_t now_ms) {
  for (auto& [job, listeners] : jobs_) {
    if (listeners.empty()) continue;
    ++resubscriptions_;
    Pending p{.kind = Kind::kSubscribe, .listener_id = 0, .job_id = job};
    send_request(schemas::SubscribeRequest{.job_id = job, .from_seq = 0}, std::move(p), now_ms);
  }
}

int64_t BridgeCore::on_tick(int64_t now_ms) {
  if (last_pong_ms_ < 0) last_pong_ms_ = now_ms;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline_ms > now_ms) {
      ++it;
      continue;
    }
    Pending p = std::move(it->second);
    it = pending_.erase(it);
    if (p.kind != Kind::kSubscribe)
      deliver_error(p.listener, p.job_id, unreachable("no reply in time"));
  }
  if (now_ms >= next_ping_ms_) {
    auto id = send_(schemas::Ping{});
    if (id.ok()) ping_id_ = *id;
    next_ping_ms_ = now_ms + options_.ping_interval_ms;
  }
  if (broker_up_ && now_ms - last_pong_ms_ > options_.broker_dead_ms) broker_up_ = false;
  return std::max<int64_t>(1, std::min<int64_t>(next_ping_ms_ - now_ms, 100));
}

}  // namespace rs::gateway
