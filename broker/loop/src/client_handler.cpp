// BrokerLoop: requests from clients (SUBMIT, CANCEL, STATUS, WORKERS, PING).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <type_traits>

#include "rs/broker/loop/broker_loop.h"
#include "rs/broker/router.h"
#include "rs/schemas/errors.h"

namespace rs::broker {

using schemas::ErrorCode;
using schemas::wire_error;

void BrokerLoop::on_client_frames(const wire::RoutingIds& peer, const schemas::Frames& frames) {
  auto parsed = schemas::parse_frames(frames, schemas::Direction::kClientToBroker, options_.limits);
  if (!parsed.ok()) {
    if (!reject_bad_submit(peer, frames, parsed.status())) reply_error(peer, 0, parsed.status());
    return;
  }
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, schemas::SubmitRequest>) on_submit(peer, std::move(m));
        else if constexpr (std::is_same_v<T, schemas::CancelRequest>) on_cancel(peer, m);
        else if constexpr (std::is_same_v<T, schemas::SubscribeRequest>) on_subscribe(peer, m);
        else if constexpr (std::is_same_v<T, schemas::StatusRequest>) on_status(peer, m);
        else if constexpr (std::is_same_v<T, schemas::WorkersRequest>) on_workers(peer, m);
        else if constexpr (std::is_same_v<T, schemas::Ping>)
          send_client(peer, schemas::Pong{.request_id = m.request_id,
                                          .broker_time_ms = now_unix_ms()});
        else reply_error(peer, 0, wire_error(ErrorCode::kUnknownCommand, "not a client command"));
      },
      parsed.value());
}

// A SUBMIT whose frames are sound but whose values are not (max_tokens 0, prompt too long)
// is answered REJECTED, with the request_id when the body still yields one.
bool BrokerLoop::reject_bad_submit(const wire::RoutingIds& peer, const schemas::Frames& frames,
                                   const Status& error) {
  auto command = schemas::peek_command(frames, options_.limits);
  ErrorCode code = schemas::wire_error_of(error);
  if (!command.ok() || *command != schemas::Command::kSubmit) return false;
  if (code != ErrorCode::kInvalidArgument && code != ErrorCode::kPromptTooLong &&
      code != ErrorCode::kTooLarge) {
    return false;
  }
  auto id = schemas::decode<schemas::Ping>(frames[2], options_.limits);
  counters_.rejected.fetch_add(1, std::memory_order_relaxed);
  count_error(code);
  send_client(peer, schemas::Rejected{.request_id = id.ok() ? id->request_id : 0, .code = code,
                                      .message = schemas::wire_error_message(error)});
  return true;
}

Status BrokerLoop::precheck_submit(const schemas::SubmitRequest& request) const {
  if (known_models_.count(request.model) == 0) {
    return wire_error(ErrorCode::kUnknownModel, "no worker serves model '" + request.model + "'");
  }
  if (dispatcher_.queue().size() >= options_.max_queued) {
    return wire_error(ErrorCode::kQueueFull, "queue is full");
  }
  return Status();
}

void BrokerLoop::on_submit(const wire::RoutingIds& peer, schemas::SubmitRequest request) {
  counters_.submitted.fetch_add(1, std::memory_order_relaxed);
  auto reject = [&](const Status& s) {
    counters_.rejected.fetch_add(1, std::memory_order_relaxed);
    count_error(schemas::wire_error_of(s));
    send_client(peer, schemas::Rejected{.request_id = request.request_id,
                                        .code = schemas::wire_error_of(s),
                                        .message = schemas::wire_error_message(s)});
  };
  if (Status s = precheck_submit(request); !s.ok()) return reject(s);
  schemas::JobRecord record{.job_id = new_job_id(), .model = request.model,
                            .priority = request.priority, .created_ms = now_unix_ms()};
  auto created = jobs_store_->create(record, request);
  if (!created.ok()) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    return reject(wire_error(ErrorCode::kUnavailable, "job store: " + created.status().message()));
  }
  if (!created->created) {
    send_client(peer, schemas::Accepted{.request_id = request.request_id,
                                        .job_id = created->job_id, .duplicate = true});
    return;
  }
  const JobId id = record.job_id;
  JobSubmit submit{.id = id, .model = request.model,
                   .priority = static_cast<Priority>(request.priority),
                   .route_key = routing_key(RouteRequest{request.model, request.affinity_key,
                                                         request.session_id, request.prompt})};
  LiveJob job{.request = std::move(request), .record = record, .submitter = peer,
              .accepted_ns = clock_.now_ns()};
  uint64_t request_id = job.request.request_id;
  live_.emplace(id, std::move(job));
  // Redis has the job: answer before any DISPATCH so the client learns its id first.
  send_client(peer, schemas::Accepted{.request_id = request_id, .job_id = id});
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

void BrokerLoop::on_cancel(const wire::RoutingIds& peer, const schemas::CancelRequest& request) {
  if (live_.count(request.job_id) == 0) {
    reply_error(peer, request.request_id,
                wire_error(ErrorCode::kNotFound, "no live job '" + request.job_id + "'"),
                request.job_id);
    return;
  }
  execute(dispatcher_.on_cancel(request.job_id));
}

void BrokerLoop::on_status(const wire::RoutingIds& peer, const schemas::StatusRequest& request) {
  auto it = live_.find(request.job_id);
  if (it != live_.end()) {
    send_client(peer, schemas::StatusReply{.request_id = request.request_id,
                                           .record = it->second.record});
    return;
  }
  auto record = jobs_store_->load(request.job_id);
  if (!record.ok()) {
    Status s = record.status().code() == StatusCode::kNotFound
                   ? wire_error(ErrorCode::kNotFound, "no job '" + request.job_id + "'")
                   : wire_error(ErrorCode::kUnavailable, record.status().message());
    reply_error(peer, request.request_id, s, request.job_id);
    return;
  }
  send_client(peer, schemas::StatusReply{.request_id = request.request_id, .record = *record});
}

void BrokerLoop::on_workers(const wire::RoutingIds& peer, const schemas::WorkersRequest& request) {
  schemas::WorkersReply reply{.request_id = request.request_id};
  for (const auto& [id, entry] : dispatcher_.workers().workers()) {
    for (const auto& [index, dev] : entry.devices) {
      DeviceKey key{id, index};
      reply.devices.push_back(schemas::DeviceStatus{
          .worker = id, .device = static_cast<int32_t>(index), .models = dev.models,
          .free_slots = dispatcher_.workers().free_slots(key), .max_slots = dev.slots,
          .running = static_cast<uint32_t>(dev.jobs.size())});
    }
  }
  send_client(peer, reply);
}

std::string BrokerLoop::new_job_id() {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "j-%016llx-%llu", static_cast<unsigned long long>(id_prefix_),
                static_cast<unsigned long long>(++id_counter_));
  return buf;
}

}  // namespace rs::broker
