// WorkerLoop: the DEALER socket to the broker. READY (and its acknowledgement), heartbeats
// sent only while the engines beat, broker liveness, teardown and reconnect with backoff.
#include <spdlog/spdlog.h>

#include "rs/schemas/errors.h"
#include "rs/wire/framing.h"
#include "rs/wire/socket.h"
#include "rs/worker/io/worker_loop.h"

namespace rs::worker::io {
namespace {

constexpr int kMaxMessagesPerTurn = 256;

}  // namespace

void WorkerLoop::connect_and_ready() {
  wire::DealerOptions o;
  o.routing_id = options_.worker_id;  // stable: ROUTER_HANDOVER gives us our old pipe
  o.max_msg_bytes = static_cast<int64_t>(options_.limits.max_frame_bytes) + 4096;
  auto socket = wire::make_dealer(context_, o);
  Status s = socket.ok() ? wire::connect_endpoint(*socket, options_.broker_endpoint) : socket.status();
  if (!s.ok()) {
    spdlog::error("worker {}: connect {}: {}", options_.worker_id, options_.broker_endpoint,
                  s.to_string());
    reconnect_at_ns_ = clock_.now_ns() + backoff_.next_delay_ms() * 1'000'000;
    return;
  }
  socket_ = std::move(socket).value();
  connected_ = true;
  broker_beat_.reset();
  send_ready();
}

void WorkerLoop::teardown(const char* why) {
  spdlog::warn("worker {}: dropping the connection to {}: {}", options_.worker_id,
               options_.broker_endpoint, why);
  if (connected_) socket_.close();
  connected_ = false;
  set_state(State::kDisconnected);
  orphan_jobs(why);
  const int64_t delay_ms = backoff_.next_delay_ms();
  reconnect_at_ns_ = clock_.now_ns() + delay_ms * 1'000'000;
  counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
}

// READY on the current socket. Any job still in flight belongs to a broker that forgot us
// (restarted, or expired us and requeued the job), so it is cancelled first.
void WorkerLoop::send_ready() {
  orphan_jobs("re-READY");
  schemas::WorkerReady ready;
  ready.worker_id = options_.worker_id;
  ready.heartbeat_interval_ms = static_cast<uint32_t>(options_.heartbeat_ms);
  const std::vector<std::string> keys = model_keys();
  for (const auto& host : hosts_) {
    DeviceLoad l = host->load();
    ready.devices.push_back(schemas::DeviceInfo{
        .index = host->device(), .models = keys,
        .free_slots = static_cast<uint32_t>(l.free_slots),
        .max_slots = static_cast<uint32_t>(options_.max_batch_size)});
  }
  ready_pending_ = false;
  set_state(State::kAwaitingAck);
  broker_beat_.reset();
  if (!send(ready)) {
    ready_pending_ = true;  // try again next turn; a silence still tears the socket down
    return;
  }
  counters_.ready_sent.fetch_add(1, std::memory_order_relaxed);
  std::string joined;
  for (const std::string& k : keys) joined += (joined.empty() ? "" : ",") + k;
  spdlog::info("worker {}: READY sent to {} ({} device(s), models {})", options_.worker_id,
               options_.broker_endpoint, hosts_.size(), joined.empty() ? "(none)" : joined);
  if (options_.on_ready) options_.on_ready(keys);
}

void WorkerLoop::send_heartbeat() {
  schemas::WorkerHeartbeat beat;
  beat.worker_id = options_.worker_id;
  const std::vector<std::string> keys = model_keys();
  for (const auto& host : hosts_) {
    DeviceLoad l = host->load();
    beat.devices.push_back(schemas::DeviceLoad{
        .index = host->device(), .free_slots = static_cast<uint32_t>(l.free_slots),
        .running = static_cast<uint32_t>(l.n_running),
        .kv_blocks_free = static_cast<uint32_t>(l.kv_free_blocks),
        .kv_blocks_total = static_cast<uint32_t>(l.kv_total_blocks),
        .has_models = true, .models = keys});
  }
  if (send(beat)) counters_.heartbeats_sent.fetch_add(1, std::memory_order_relaxed);
}

// Timers, once per loop turn: (re)connect when due, tear down a silent broker, READY when
// asked, and the heartbeat: every interval, but only while every engine thread beats.
void WorkerLoop::maintain_connection() {
  if (!connected_) {  // (registry mode: the first connect waits for the first models)
    if (healthy() && models_ready_ && clock_.now_ns() >= reconnect_at_ns_) connect_and_ready();
    return;
  }
  if (broker_beat_.peer_dead()) {
    teardown(state_ == State::kAwaitingAck ? "READY not acknowledged" : "broker silent");
    return;
  }
  if (ready_pending_ && healthy()) send_ready();
  if (broker_beat_.send_due()) {
    if (healthy() && state_ == State::kRegistered) send_heartbeat();
    broker_beat_.on_sent();  // while the engines are stale the beat is skipped, not delayed
  }
}

bool WorkerLoop::send(const schemas::Message& message) {
  if (!connected_) return false;
  wire::SendStatus s = wire::send_message(socket_, {}, message);
  if (s == wire::SendStatus::kSent) return true;
  counters_.send_failures.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("worker {}: send {} failed: {}", options_.worker_id,
               schemas::command_name(schemas::message_command(message)), wire::send_status_name(s));
  return false;
}

void WorkerLoop::drain_broker() {
  const wire::RecvLimits limits{.n_routing = 0, .max_frames = 8,
                                .max_total_bytes = options_.limits.max_frame_bytes + 4096};
  for (int i = 0; i < kMaxMessagesPerTurn && connected_; ++i) {
    wire::Received r = wire::recv_frames(socket_, limits);
    if (r.status == wire::RecvStatus::kWouldBlock || r.status == wire::RecvStatus::kClosed) return;
    broker_beat_.on_received();  // any inbound message proves the broker alive
    if (r.status == wire::RecvStatus::kRejected) {
      counters_.bad_messages.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("worker {}: bad broker message: {}", options_.worker_id, r.error.to_string());
      continue;
    }
    auto parsed = schemas::parse_frames(r.envelope.frames, schemas::Direction::kBrokerToWorker,
                                        options_.limits);
    if (!parsed.ok()) {
      counters_.bad_messages.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("worker {}: bad broker message: {}", options_.worker_id,
                   parsed.status().to_string());
      continue;
    }
    on_broker_message(parsed.value());
  }
}

}  // namespace rs::worker::io
