// BrokerLoop: construction, binding, the poll loop, the receive paths and the ports the
// state's effects go through (sends, store batches).
#include "rs/broker/loop/broker_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "rs/broker/loop/store_commands.h"
#include "rs/schemas/errors.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"
#include "store_reader.h"
#include "store_writer.h"

namespace rs::broker {
namespace {

constexpr long kMaxPollMs = 50;  // bounds how late request_stop() is noticed

wire::RouterOptions router_options(const BrokerOptions& o, int sndhwm) {
  wire::RouterOptions r;
  r.max_msg_bytes = o.socket_max_msg_bytes > 0
                        ? o.socket_max_msg_bytes
                        : static_cast<int64_t>(2 * o.limits.max_frame_bytes + (64u << 10));
  r.sndhwm = sndhwm;
  return r;
}

// A whole message's payload may be a little over one frame: header and command frames.
wire::RecvLimits recv_limits(const BrokerOptions& o) {
  return wire::RecvLimits{
      .n_routing = 1, .max_frames = 8, .max_total_bytes = o.limits.max_frame_bytes + 4096};
}

// Plain ZeroMQ lets anyone who reaches a port in: only on this host.
bool is_loopback_endpoint(const std::string& e) {
  for (const char* p : {"tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://", "inproc://"}) {
    if (e.rfind(p, 0) == 0) return true;
  }
  return false;
}

Status check_insecure_endpoints(const BrokerOptions& o) {
  for (const std::string& e : {o.client_endpoint, o.worker_endpoint}) {
    if (!is_loopback_endpoint(e)) {
      return invalid_argument("insecure mode binds loopback only, not " + e +
                              ": use CURVE (--curve-key, docs/SECURITY.md)");
    }
  }
  return Status();
}

SendResult send_result(wire::SendStatus s) {
  switch (s) {
    case wire::SendStatus::kSent:
      return SendResult::kSent;
    case wire::SendStatus::kWouldBlock:
      return SendResult::kWouldBlock;
    case wire::SendStatus::kUnroutable:
      return SendResult::kUnroutable;
    default:
      return SendResult::kFailed;
  }
}

}  // namespace

BrokerLoop::BrokerLoop(zmq::context_t& context, BrokerOptions options, const rs::Clock& clock)
    : context_(context), options_(std::move(options)), clock_(clock) {
  // The writer waits at most store_timeout_ms on Redis; the StoreReader's reads (registry,
  // ingest, recovery; run only while the writer keeps up) at most read_timeout_ms.
  // The state first: the writer observes into its metrics.
  state_ = std::make_unique<BrokerState>(options_, static_cast<BrokerPorts&>(*this), clock_);
  store::RedisOptions writes = options_.redis;
  writes.command_timeout_ms = std::min(writes.command_timeout_ms, options_.store_timeout_ms);
  writes.connect_timeout_ms = std::min(writes.connect_timeout_ms, options_.store_timeout_ms);
  writer_ = std::make_unique<StoreWriter>(
      context_, StoreWriterOptions{.redis = writes,
                                   .journal_path = options_.journal_path,
                                   .pipeline_seconds = &state_->metrics().redis_pipeline()});
  options_.redis.command_timeout_ms =
      std::min(options_.redis.command_timeout_ms, options_.read_timeout_ms);
  options_.redis.connect_timeout_ms =
      std::min(options_.redis.connect_timeout_ms, options_.read_timeout_ms);
  redis_ = std::make_unique<store::RedisConnection>(options_.redis);
  commands_ =
      std::make_unique<StoreCommands>(*redis_, options_.key_prefix, options_.finished_ttl_s);
  reader_ = std::make_unique<StoreReader>(context_, options_.redis);
}

// The threads go first: they must not outlive the context's use by the loop.
BrokerLoop::~BrokerLoop() {
  reader_.reset();
  writer_.reset();
}

Status BrokerLoop::bind() {
  wire::RouterOptions client_options = router_options(options_, options_.client_sndhwm);
  wire::RouterOptions worker_options = router_options(options_, 100000);
  if (secure()) {
    RS_RETURN_IF_ERROR(start_access(worker_options, client_options));
  } else {
    RS_RETURN_IF_ERROR(check_insecure_endpoints(options_));
  }
  RS_ASSIGN_OR_RETURN(clients_, wire::make_router(context_, client_options));
  RS_ASSIGN_OR_RETURN(workers_, wire::make_router(context_, worker_options));
  RS_ASSIGN_OR_RETURN(client_endpoint_, wire::bind_endpoint(clients_, options_.client_endpoint));
  RS_ASSIGN_OR_RETURN(worker_endpoint_, wire::bind_endpoint(workers_, options_.worker_endpoint));
  RS_RETURN_IF_ERROR(writer_->start());
  // A previous broker's journal goes first (batches 1..n), before recovery reads rs:live.
  RS_ASSIGN_OR_RETURN(std::vector<size_t> replay, writer_->open_journal());
  for (size_t i = 0; i < replay.size(); ++i) {
    layouts_.push_back(std::make_unique<StoreLayout>(StoreLayout{.seq = i + 1}));
  }
  state_->on_journal(replay);
  RS_RETURN_IF_ERROR(reader_->start());
  start_monitors();
  Status redis = redis_->connect();
  if (!redis.ok()) spdlog::warn("broker: redis not reachable yet: {}", redis.to_string());
  if (redis.ok()) (void)read_registry_now();  // know the registry before the first SUBMIT
  return Status();
}

Status BrokerLoop::run() {
  while (!stop_.load(std::memory_order_relaxed)) {
    RS_RETURN_IF_ERROR(run_once(kMaxPollMs));
  }
  return Status();
}

Status BrokerLoop::run_once(long max_wait_ms) {
  wire::Poller poller;
  // The ROUTERs are drained every turn (drain_* stop at would-block); their messages wait
  // while the state says so (recovery reading, a journal being re-applied).
  if (!state_->messages_wait()) {
    poller.add(clients_);
    poller.add(workers_);
  }
  size_t si = poller.add(writer_->socket());
  size_t ri = poller.add(reader_->socket());
  size_t wmi = worker_monitor_.started() ? poller.add(worker_monitor_.socket()) : SIZE_MAX;
  size_t cmi = client_monitor_.started() ? poller.add(client_monitor_.socket()) : SIZE_MAX;
  size_t zi = zap_ ? poller.add(zap_) : SIZE_MAX;
  auto ready = poller.poll(state_->poll_timeout_ms(std::min(max_wait_ms, kMaxPollMs)));
  if (!ready.ok()) return ready.status();
  if (secure()) maybe_reload();
  if (zi != SIZE_MAX && poller.readable(zi)) serve_zap();
  if (poller.readable(si)) drain_store();
  if (poller.readable(ri)) reader_->drain();
  if ((wmi != SIZE_MAX && poller.readable(wmi)) || (cmi != SIZE_MAX && poller.readable(cmi))) {
    drain_monitors();
  }
  state_->begin_turn();
  const bool workers_drained = !state_->messages_wait() && drain_workers();
  const bool clients_drained = !state_->messages_wait() && drain_clients();
  state_->end_turn(workers_drained, clients_drained);
  return Status();
}

bool BrokerLoop::drain_workers() {
  wire::RecvLimits limits = recv_limits(options_);
  limits.read_user_id = secure();
  for (int i = 0; i < options_.max_messages_per_turn; ++i) {
    wire::Received r = wire::recv_frames(workers_, limits);
    if (r.status == wire::RecvStatus::kWouldBlock || r.status == wire::RecvStatus::kClosed)
      return true;
    if (r.status == wire::RecvStatus::kRejected) {
      state_->on_worker_rejected(r.error);
      continue;
    }
    const AllowedKey* key = nullptr;
    if (secure() && (key = identify(kWorkersDomain, r.src_fd, r.user_id)) == nullptr) continue;
    worker_framing_.note(r.envelope.routing, r.envelope.packed);
    state_->on_worker_message(r.envelope.routing, r.src_fd, r.envelope.frames, key);
  }
  return false;
}

bool BrokerLoop::drain_clients() {
  wire::RecvLimits limits = recv_limits(options_);
  limits.read_user_id = secure();
  for (int i = 0; i < options_.max_messages_per_turn; ++i) {
    wire::Received r = wire::recv_frames(clients_, limits);
    if (r.status == wire::RecvStatus::kWouldBlock || r.status == wire::RecvStatus::kClosed)
      return true;
    const AllowedKey* key = nullptr;
    if (secure() && (key = identify(kClientsDomain, r.src_fd, r.user_id)) == nullptr) continue;
    if (r.status == wire::RecvStatus::kRejected) {  // too_large or bad_frame, read whole
      state_->on_client_rejected(r.envelope.routing, r.error);
      continue;
    }
    client_framing_.note(r.envelope.routing, r.envelope.packed);
    state_->on_client_message(r.envelope.routing, r.src_fd, r.envelope.frames, key);
  }
  return false;
}

SendResult BrokerLoop::send_client(const RoutingIds& peer, const schemas::Frames& frames) {
  SendResult r = send_result(wire::send_frames(clients_, peer, frames, wire::IoMode::kDontWait,
                                               client_framing_.framing_for(peer)));
  if (r == SendResult::kSent) state_->metrics().sent(frames);
  return r;
}

SendResult BrokerLoop::send_worker(const RoutingIds& route, const schemas::Frames& frames) {
  SendResult r = send_result(wire::send_frames(workers_, route, frames, wire::IoMode::kDontWait,
                                               worker_framing_.framing_for(route)));
  if (r == SendResult::kSent) state_->metrics().sent(frames);
  return r;
}

BrokerPorts::Submitted BrokerLoop::submit(StoreBatch batch) {
  auto layout = std::make_unique<StoreLayout>();
  std::vector<store::RedisCommand> commands = commands_->build(std::move(batch), *layout);
  const size_t n = commands.size();
  bool releasable = true;
  layout->seq = writer_->submit(std::move(commands), &releasable);
  const uint64_t seq = layout->seq;
  layouts_.push_back(std::move(layout));
  return Submitted{.seq = seq, .n_commands = n, .releasable = releasable};
}

void BrokerLoop::drain_store() {
  state_->counters().writer_cpu_ns.store(writer_->cpu_ns(), std::memory_order_relaxed);
  while (std::optional<StoreEvent> e = writer_->next_event()) on_store_event(*e);
}

// An applied batch's replies become typed results (a journal's batch has none the state
// reads); a failing one is reported as is.
void BrokerLoop::on_store_event(StoreEvent& e) {
  if (e.kind == StoreEvent::Kind::kFailing) {
    return state_->on_store_failing(e.seq, e.error, e.journaled_seq);
  }
  BatchReplies replies;
  if (!layouts_.empty() && layouts_.front()->seq == e.seq) {
    replies = StoreCommands::parse(*layouts_.front(), e.replies);
    layouts_.pop_front();
  }
  state_->on_batch_applied(e.seq, e.attempts, replies);
}

}  // namespace rs::broker
