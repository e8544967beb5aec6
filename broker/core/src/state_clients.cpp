// BrokerState: requests from clients (SUBMIT, CANCEL, STATUS, WORKERS, PING).
#include <spdlog/spdlog.h>

#include <charconv>
#include <type_traits>

#include "rs/broker/broker_state.h"
#include "rs/broker/router.h"
#include "rs/schemas/errors.h"
#include "rs/schemas/model_ref.h"
#include "turn_batch.h"

namespace rs::broker {

using schemas::ErrorCode;
using schemas::wire_error;

void BrokerState::on_client_frames(const RoutingIds& peer, const schemas::Frames& frames) {
  auto parsed = schemas::parse_frames(frames, schemas::Direction::kClientToBroker, options_.limits);
  if (!parsed.ok()) {
    metrics_->malformed(schemas::wire_error_of(parsed.status()));
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
        else if constexpr (std::is_same_v<T, schemas::Ping>) on_ping(peer, m);
        else reply_error(peer, 0, wire_error(ErrorCode::kUnknownCommand, "not a client command"));
      },
      parsed.value());
}

// A SUBMIT whose frames are sound but whose values are not (max_tokens 0, prompt too long)
// is answered REJECTED, with the request_id when the body still yields one.
bool BrokerState::reject_bad_submit(const RoutingIds& peer, const schemas::Frames& frames,
                                   const Status& error) {
  auto command = schemas::peek_command(frames, options_.limits);
  ErrorCode code = schemas::wire_error_of(error);
  if (!command.ok() || *command != schemas::Command::kSubmit) return false;
  if (code != ErrorCode::kInvalidArgument && code != ErrorCode::kPromptTooLong &&
      code != ErrorCode::kTooLarge) {
    return false;
  }
  auto id = schemas::decode<schemas::Ping>(frames[2], options_.limits);
  count_rejected(code);
  post_client(peer, schemas::Rejected{.request_id = id.ok() ? id->request_id : 0, .code = code,
                                      .message = schemas::wire_error_message(error)});
  return true;
}

// The model: "name" or "name@version" (invalid_argument otherwise); unknown_model only when
// neither a device nor the registry knows the name (pinned: that version). A known model
// nobody serves now is accepted: it waits up to model_wait_ms.
Status BrokerState::precheck_submit(const schemas::SubmitRequest& request) const {
  std::optional<schemas::ModelRef> ref = schemas::parse_model_ref(request.model);
  if (!ref) {
    return wire_error(ErrorCode::kInvalidArgument,
                      "model must be 'name' or 'name@version', got '" + request.model + "'");
  }
  if (!dispatcher_.catalog().knows(ref->name, ref->version)) {
    return wire_error(ErrorCode::kUnknownModel, "no worker or registry knows model '" + request.model + "'");
  }
  // A job is accepted only once it is stored: while Redis fails (or too much waits to be
  // written), none is.
  if (store_failing_) return wire_error(ErrorCode::kUnavailable, "job store: redis is not answering");
  if (held_commands_ >= options_.max_held_writes) {
    return wire_error(ErrorCode::kUnavailable, "job store: too many writes waiting for redis");
  }
  // Creates of this turn are not queued yet but will be: count them.
  if (dispatcher_.queue().size() + batch_->pending_creates() >= options_.max_queued) {
    return wire_error(ErrorCode::kQueueFull, "queue is full");
  }
  return Status();
}

void BrokerState::reject_submit(const RoutingIds& peer, uint64_t request_id,
                               const Status& s) {
  count_rejected(schemas::wire_error_of(s));
  send_client_now(peer, schemas::Rejected{.request_id = request_id,
                                          .code = schemas::wire_error_of(s),
                                          .message = schemas::wire_error_message(s)});
}

// Stages the job's creation. Without an idempotency key the job cannot be a duplicate, so
// it is admitted now: its ACCEPTED and any DISPATCH go out after this turn's commit, which
// writes QUEUED (and DISPATCHED) first. With a key, commit() answers and admits it.
void BrokerState::on_submit(const RoutingIds& peer, schemas::SubmitRequest request) {
  counters_.submitted.fetch_add(1, std::memory_order_relaxed);
  if (std::string tenant = sender_tenant(); !tenant.empty()) {  // a client key: its tenant
    if (!request.tenant.empty() && request.tenant != tenant) {
      return reject_submit(peer, request.request_id,
                           wire_error(ErrorCode::kPermissionDenied,
                                      "this key submits for tenant '" + tenant + "' only"));
    }
    request.tenant = std::move(tenant);
  }
  if (Status s = precheck_submit(request); !s.ok()) {
    return reject_submit(peer, request.request_id, s);
  }
  // A job without a seed gets one now, stored with it: every attempt samples the same
  // random stream, so a resumed attempt continues the output an uninterrupted run gives.
  if (!request.sampling.seed) request.sampling.seed = new_seed();
  schemas::JobRecord record = new_record(request);
  batch_->add_write(AddLive{.job = record.job_id, .created_ms = record.created_ms});
  PendingCreate create{.peer = peer, .request_id = request.request_id, .job_id = record.job_id,
                       .admitted = request.idempotency_key.empty()};
  if (!create.admitted) {
    CreateJob write{.record = record, .request = request};
    create.request = std::move(request);
    create.record = std::move(record);
    batch_->add_create(std::move(create), std::move(write));
    return;
  }
  schemas::Accepted accepted{.request_id = request.request_id, .job_id = record.job_id};
  batch_->add_create(std::move(create), CreateJob{.record = record, .request = request});
  batch_->add_outgoing(Outgoing{.job = accepted.job_id, .peer = peer,
                                .frames = schemas::make_frames(accepted)});
  admit(peer, std::move(request), std::move(record));
}

void BrokerState::on_cancel(const RoutingIds& peer, const schemas::CancelRequest& request) {
  const LiveJob* live = live_job(request.job_id);
  if (live == nullptr || hidden_from_sender(live->record.tenant)) {
    reply_error(peer, request.request_id,
                wire_error(ErrorCode::kNotFound, "no live job '" + request.job_id + "'"),
                request.job_id);
    return;
  }
  execute(dispatcher_.on_cancel(request.job_id));
  // The ack: the record as it stands now (CANCELLED at once for a queued job; a running
  // one ends CANCELLED in a DONE once its worker confirms).
  on_status(peer, schemas::StatusRequest{.request_id = request.request_id, .job_id = request.job_id});
}

// PONG comes after the answers to the client's earlier requests (a client confirms a
// SUBSCRIBE so), unless Redis fails: then at once (the broker is alive; answers wait).
void BrokerState::on_ping(const RoutingIds& peer, const schemas::Ping& ping) {
  if (store_failing_) {
    return send_client_now(peer, schemas::Pong{.request_id = ping.request_id,
                                               .broker_time_ms = now_unix_ms()});
  }
  defer_read(DeferredRead{.peer = peer, .request_id = ping.request_id, .ping = true});
}

void BrokerState::on_status(const RoutingIds& peer, const schemas::StatusRequest& request) {
  if (const LiveJob* live = live_job(request.job_id)) {
    if (hidden_from_sender(live->record.tenant)) {
      return reply_error(peer, request.request_id,
                         wire_error(ErrorCode::kNotFound, "no job '" + request.job_id + "'"),
                         request.job_id);
    }
    post_client(peer, schemas::StatusReply{.request_id = request.request_id,
                                           .record = live->record});
    return;
  }
  // A job that ended (maybe this turn): read after its final record in the turn's pipeline.
  defer_read(DeferredRead{.peer = peer, .request_id = request.request_id, .job_id = request.job_id,
                          .tenant = sender_tenant()});
}

void BrokerState::status_ended(const DeferredRead& read, const Result<schemas::JobRecord>& record) {
  if (!record.ok() || (!read.tenant.empty() && record->tenant != read.tenant)) {
    Status s = record.ok() || record.status().code() == StatusCode::kNotFound
                   ? wire_error(ErrorCode::kNotFound, "no job '" + read.job_id + "'")
                   : wire_error(ErrorCode::kUnavailable, record.status().message());
    reply_error(read.peer, read.request_id, s, read.job_id);
    return;
  }
  post_client(read.peer, schemas::StatusReply{.request_id = read.request_id, .record = *record});
}

void BrokerState::on_workers(const RoutingIds& peer, const schemas::WorkersRequest& request) {
  if (sender_ != nullptr && sender_->role == PeerRole::kClient) {  // least right: its jobs only
    return reply_error(peer, request.request_id,
                       wire_error(ErrorCode::kPermissionDenied,
                                  "a client key sees its tenant's jobs, not the pool's workers "
                                  "(WORKERS needs a gateway-role key)"));
  }
  schemas::WorkersReply reply{.request_id = request.request_id};
  for (const auto& [id, entry] : dispatcher_.workers().workers()) {
    for (const auto& [index, dev] : entry.devices) {
      reply.devices.push_back(device_status(DeviceKey{id, index}, dev));
    }
  }
  post_client(peer, reply);
}

// max_slots from READY; the rest from the device's last heartbeat, or the broker's own
// in-flight count before the first one.
schemas::DeviceStatus BrokerState::device_status(const DeviceKey& key, const DeviceState& dev) const {
  schemas::DeviceStatus status{.worker = key.worker, .device = static_cast<int32_t>(key.index),
                               .models = dev.models,
                               .free_slots = dispatcher_.workers().free_slots(key),
                               .max_slots = dev.slots,
                               .running = static_cast<uint32_t>(dev.jobs.size())};
  auto worker = loads_.find(key.worker);
  if (worker == loads_.end()) return status;
  auto device = worker->second.find(static_cast<int32_t>(key.index));
  if (device == worker->second.end()) return status;
  const DeviceHeartbeat& beat = device->second;
  status.free_slots = beat.load.free_slots;
  status.running = beat.load.running;
  status.kv_blocks_free = beat.load.kv_blocks_free;
  status.kv_blocks_total = beat.load.kv_blocks_total;
  status.no_chat = beat.load.no_chat;
  status.last_heartbeat_ms = beat.at_ms;
  return status;
}

uint64_t BrokerState::new_seed() {
  uint64_t z = (id_prefix_ ^ (++seed_counter_ * 0x9e3779b97f4a7c15ULL)) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return z == 0 ? 1 : z;
}

// "j-<prefix: 16 hex digits>-<counter>" (to_chars: snprintf's format parsing was most of
// a new record's cost).
std::string BrokerState::new_job_id() {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[48] = {'j', '-'};
  for (int i = 0; i < 16; ++i) buf[2 + i] = kHex[(id_prefix_ >> (60 - 4 * i)) & 0xf];
  buf[18] = '-';
  char* end = std::to_chars(buf + 19, buf + sizeof(buf), ++id_counter_).ptr;
  return std::string(buf, static_cast<size_t>(end - buf));
}

schemas::JobRecord BrokerState::new_record(const schemas::SubmitRequest& request) {
  std::optional<schemas::ModelRef> ref = schemas::parse_model_ref(request.model);
  return schemas::JobRecord{.job_id = new_job_id(),
                            .model = ref ? ref->name : request.model,
                            .priority = request.priority,
                            .created_ms = now_unix_ms(),
                            .api_meta = request.api_meta,
                            .tenant = request.tenant,
                            .detach = request.detach};
}

}  // namespace rs::broker
