// WorkerLoop: the DEALER socket to the broker. READY (and its acknowledgement), heartbeats
// sent only while the engines beat, broker liveness, teardown and reconnect with backoff.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <random>

#include "rs/schemas/errors.h"
#include "rs/wire/framing.h"
#include "rs/wire/socket.h"
#include "rs/worker/io/worker_loop.h"

namespace rs::worker::io {
namespace {

constexpr int kMaxMessagesPerTurn = 256;
constexpr int64_t kReadyRetryNs = 20'000'000;  // READY not sendable yet (no link): retry

}  // namespace

void WorkerLoop::connect_and_ready() {
  wire::DealerOptions o;
  o.routing_id = options_.worker_id;  // stable: ROUTER_HANDOVER gives us our old pipe
  if (options_.curve.enabled()) {
    // The broker allows no handover under CURVE: a fresh routing id per connection (the
    // READY binds it to the worker id, which the broker checks against our key).
    o.curve = options_.curve;
    std::random_device rd;
    char suffix[17];
    std::snprintf(suffix, sizeof(suffix), "%08x%08x", rd(), rd());
    o.routing_id = options_.worker_id + "." + suffix;
  }
  o.immediate = true;  // no link, no send: outputs are kept for the next READY instead
  o.max_msg_bytes = static_cast<int64_t>(options_.limits.max_frame_bytes) + 4096;
  auto socket = wire::make_dealer(context_, o);
  Status s =
      socket.ok() ? wire::connect_endpoint(*socket, options_.broker_endpoint) : socket.status();
  if (!s.ok()) {
    spdlog::error("worker {}: connect {}: {}", options_.worker_id, options_.broker_endpoint,
                  s.to_string());
    reconnect_at_ns_ = clock_.now_ns() + backoff_.next_delay_ms() * 1'000'000;
    return;
  }
  socket_ = std::move(socket).value();
  connected_ = true;
  link_lost_ = false;
  ready_retrying_ = false;
  const std::string monitor_name = options_.worker_id + "-" + std::to_string(++n_link_monitors_);
  if (Status m = link_monitor_.start(context_, socket_, monitor_name); !m.ok()) {
    spdlog::warn("worker {}: no link monitor ({}): a broker restart is noticed by its silence",
                 options_.worker_id, m.to_string());
  }
  broker_beat_.reset();
  send_ready();
}

void WorkerLoop::teardown(const char* why) {
  spdlog::warn("worker {}: dropping the connection to {}: {}", options_.worker_id,
               options_.broker_endpoint, why);
  link_monitor_.stop();
  if (connected_) socket_.close();
  connected_ = false;
  set_state(State::kDisconnected);  // jobs in flight carry on: the next READY lists them
  const int64_t delay_ms = backoff_.next_delay_ms();
  reconnect_at_ns_ = clock_.now_ns() + delay_ms * 1'000'000;
  counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
}

// READY on the current socket, listing the jobs still in flight (a restarted broker adopts
// those it still counts on and cancels the others), then their tokens so far and any end
// no broker has heard of, in order behind it.
void WorkerLoop::send_ready() {
  schemas::WorkerReady ready;
  ready.jobs = held_jobs();
  ready.worker_id = options_.worker_id;
  ready.heartbeat_interval_ms = static_cast<uint32_t>(options_.heartbeat_ms);
  const std::vector<std::string> keys = model_keys();
  for (const auto& host : hosts_) {
    DeviceLoad l = host->load();
    ready.devices.push_back(
        schemas::DeviceInfo{.index = host->device(),
                            .models = keys,
                            .free_slots = static_cast<uint32_t>(l.free_slots),
                            .max_slots = static_cast<uint32_t>(options_.max_batch_size)});
  }
  ready_pending_ = false;
  set_state(State::kAwaitingAck);
  // A retry keeps the liveness clock running: a link that never comes up (a socket ZeroMQ
  // gave up on) is torn down after the liveness window, and a new one is opened.
  if (!ready_retrying_) broker_beat_.reset();
  if (!send(ready)) {
    ready_pending_ = true;  // try again shortly; a silence still tears the socket down
    ready_retrying_ = true;
    ready_retry_at_ns_ = clock_.now_ns() + kReadyRetryNs;
    return;
  }
  ready_retrying_ = false;
  counters_.ready_sent.fetch_add(1, std::memory_order_relaxed);
  counters_.jobs_held.fetch_add(ready.jobs.size(), std::memory_order_relaxed);
  resend_held_jobs();
  std::string joined;
  for (const std::string& k : keys) joined += (joined.empty() ? "" : ",") + k;
  spdlog::info("worker {}: READY sent to {} ({} device(s), models {}, {} job(s) held)",
               options_.worker_id, options_.broker_endpoint, hosts_.size(),
               joined.empty() ? "(none)" : joined, ready.jobs.size());
  if (options_.on_ready) options_.on_ready(keys);
}

void WorkerLoop::send_heartbeat() {
  schemas::WorkerHeartbeat beat;
  beat.worker_id = options_.worker_id;
  const std::vector<std::string> keys = model_keys();
  const std::vector<std::string> no_chat_models = no_chat();
  for (const auto& host : hosts_) {
    DeviceLoad l = host->load();
    beat.devices.push_back(
        schemas::DeviceLoad{.index = host->device(),
                            .free_slots = static_cast<uint32_t>(l.free_slots),
                            .running = static_cast<uint32_t>(l.n_running),
                            .kv_blocks_free = static_cast<uint32_t>(l.kv_free_blocks),
                            .kv_blocks_total = static_cast<uint32_t>(l.kv_total_blocks),
                            .has_models = true,
                            .models = keys,
                            .no_chat = no_chat_models});
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
  if (ready_pending_ && healthy() && clock_.now_ns() >= ready_retry_at_ns_) send_ready();
  if (broker_beat_.send_due()) {
    forget_old_finals();
    if (healthy() && state_ == State::kRegistered) send_heartbeat();
    broker_beat_.on_sent();  // while the engines are stale the beat is skipped, not delayed
  }
}

bool WorkerLoop::send(const schemas::Message& message) {
  // Link down: nothing is queued for a broker that may not be the one that comes back
  // (outputs are kept, and follow the next READY).
  if (!connected_ || state_ == State::kDisconnected) return false;
  wire::SendStatus s =
      wire::send_message(socket_, {}, message, wire::IoMode::kDontWait, wire::Framing::kPacked);
  if (s == wire::SendStatus::kSent) return true;
  counters_.send_failures.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("worker {}: send {} failed: {}", options_.worker_id,
               schemas::command_name(schemas::message_command(message)), wire::send_status_name(s));
  return false;
}

// The link to the broker went down (a broker restart, usually): the jobs in flight carry
// on and their outputs are kept; when the link is back, READY lists them.
void WorkerLoop::watch_link() {
  if (!connected_) return;
  const wire::LinkEvents events = link_monitor_.poll();
  if (events.refused) {  // ZeroMQ will not retry this connection: a new socket, after a pause
    teardown(options_.curve.enabled()
                 ? "the broker refused the CURVE handshake (is this worker's key on its --allow-workers "
                   "list, and --broker-key the broker's public key?)"
                 : "the broker refused the handshake");
    return;
  }
  if (events.disconnected && state_ != State::kDisconnected) {
    spdlog::warn("worker {}: lost the link to {}; {} job(s) carry on", options_.worker_id,
                 options_.broker_endpoint, in_flight_.size());
    set_state(State::kDisconnected);
    ready_pending_ = false;
    link_lost_ = true;
  }
  if (events.connected && link_lost_) {
    spdlog::info("worker {}: link to {} is back: READY again", options_.worker_id,
                 options_.broker_endpoint);
    link_lost_ = false;
    ready_pending_ = true;
    ready_retrying_ = false;  // a new link: its own liveness window
  }
}

void WorkerLoop::drain_broker() {
  const wire::RecvLimits limits{
      .n_routing = 0, .max_frames = 8, .max_total_bytes = options_.limits.max_frame_bytes + 4096};
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
