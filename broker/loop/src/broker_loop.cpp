// BrokerLoop: construction, binding, the poll loop and the receive paths.
#include "rs/broker/loop/broker_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "rs/schemas/errors.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"
#include "store_reader.h"
#include "store_writer.h"
#include "turn_batch.h"

namespace rs::broker {
namespace {

DispatcherOptions dispatcher_options(const BrokerOptions& o) {
  DispatcherOptions d;
  d.queue.max_queued = o.max_queued;
  d.queue.wait_timeout_ms = o.queue_timeout_ms;
  d.queue.model_wait_ms = o.model_wait_ms;
  d.catalog.max_sessions = o.max_sessions;
  d.workers.heartbeat_interval_ms = o.heartbeat_ms;
  d.workers.missed_beats = o.missed_beats;
  d.max_attempts = o.max_attempts;
  d.router.interactive_reserve = o.interactive_reserve;
  return d;
}

constexpr long kMaxPollMs = 50;  // bounds how late request_stop() is noticed
constexpr long kRetrySendsMs = 5;  // held replies and `lagged` notices are retried this often

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
  return wire::RecvLimits{.n_routing = 1, .max_frames = 8,
                          .max_total_bytes = o.limits.max_frame_bytes + 4096};
}

}  // namespace

BrokerLoop::BrokerLoop(zmq::context_t& context, BrokerOptions options, const rs::Clock& clock)
    : context_(context),
      options_(std::move(options)),
      clock_(clock),
      jobs_(std::max<uint32_t>(1, options_.max_attempts), /*owned=*/true),
      dispatcher_(clock, dispatcher_options(options_), &jobs_),
      batch_(std::make_unique<TurnBatch>()),
      held_(std::make_unique<std::deque<HeldTurn>>()) {
  std::random_device rd;
  id_prefix_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  // The writer waits at most store_timeout_ms on Redis; the StoreReader's reads (registry,
  // ingest) and the loop's recovery reads (run only while the writer keeps up) at most
  // read_timeout_ms.
  store::RedisOptions writes = options_.redis;
  writes.command_timeout_ms = std::min(writes.command_timeout_ms, options_.store_timeout_ms);
  writes.connect_timeout_ms = std::min(writes.connect_timeout_ms, options_.store_timeout_ms);
  writer_ = std::make_unique<StoreWriter>(
      context_, StoreWriterOptions{.redis = writes, .journal_path = options_.journal_path});
  options_.redis.command_timeout_ms = std::min(options_.redis.command_timeout_ms, options_.read_timeout_ms);
  options_.redis.connect_timeout_ms = std::min(options_.redis.connect_timeout_ms, options_.read_timeout_ms);
  redis_ = std::make_unique<store::RedisConnection>(options_.redis);
  store::JobStoreOptions js;
  js.keys.prefix = options_.key_prefix;
  js.checked_transitions = false;  // single writer: state and attempts fenced in memory
  jobs_store_ = std::make_unique<store::JobStore>(*redis_, js);
  store::TokenLogOptions tl;
  tl.keys.prefix = options_.key_prefix;
  tl.finished_ttl_s = options_.finished_ttl_s;
  token_log_ = std::make_unique<store::TokenLog>(*redis_, tl);
  store::ModelRegistryOptions mr;
  mr.keys.prefix = options_.key_prefix;
  registry_ = std::make_unique<store::ModelRegistry>(*redis_, mr);
  registry_options_ = mr;
  reader_ = std::make_unique<StoreReader>(context_, options_.redis);
  init_ingest();
}

// The writer goes first: its thread must not outlive the context's use by the loop.
BrokerLoop::~BrokerLoop() {
  reader_.reset();
  writer_.reset();
}

Status BrokerLoop::bind() {
  RS_ASSIGN_OR_RETURN(clients_,
                      wire::make_router(context_, router_options(options_, options_.client_sndhwm)));
  RS_ASSIGN_OR_RETURN(workers_, wire::make_router(context_, router_options(options_, 100000)));
  RS_ASSIGN_OR_RETURN(client_endpoint_, wire::bind_endpoint(clients_, options_.client_endpoint));
  RS_ASSIGN_OR_RETURN(worker_endpoint_, wire::bind_endpoint(workers_, options_.worker_endpoint));
  RS_RETURN_IF_ERROR(writer_->start());
  // A previous broker's journal goes first (batches 1..n), before recovery reads rs:live.
  RS_ASSIGN_OR_RETURN(std::vector<size_t> replay, writer_->open_journal());
  for (size_t n : replay) {
    held_->push_back(HeldTurn{.seq = ++journal_replay_seq_, .n_commands = n,
                              .submitted_ns = clock_.now_ns()});
    held_commands_ += n;
  }
  counters_.held_commands.store(held_commands_, std::memory_order_relaxed);
  RS_RETURN_IF_ERROR(reader_->start());
  start_monitors();
  Status redis = redis_->connect();
  if (!redis.ok()) spdlog::warn("broker: redis not reachable yet: {}", redis.to_string());
  next_beat_ns_ = clock_.now_ns() + options_.heartbeat_ms * 1'000'000;
  if (redis.ok()) (void)read_registry_now();  // know the registry before the first SUBMIT
  return Status();
}

Status BrokerLoop::run() {
  while (!stop_.load(std::memory_order_relaxed)) {
    RS_RETURN_IF_ERROR(run_once(poll_timeout_ms()));
  }
  return Status();
}

Status BrokerLoop::run_once(long max_wait_ms) {
  wire::Poller poller;
  // The ROUTERs are drained every turn (drain_* stop at would-block); their messages wait
  // while the recovery read runs (no request about a job before the live jobs are known).
  // So do they while a previous broker's journal is re-applied (unless Redis fails).
  auto messages_wait = [this] {
    return recovery_reading_ || (replaying_journal() && !store_failing_);
  };
  if (!messages_wait()) {
    poller.add(clients_);
    poller.add(workers_);
  }
  size_t si = poller.add(writer_->socket());
  size_t ri = poller.add(reader_->socket());
  size_t wmi = worker_monitor_.started() ? poller.add(worker_monitor_.socket()) : SIZE_MAX;
  size_t cmi = client_monitor_.started() ? poller.add(client_monitor_.socket()) : SIZE_MAX;
  auto ready = poller.poll(std::min(max_wait_ms, poll_timeout_ms()));
  if (!ready.ok()) return ready.status();
  const int64_t start_ns = clock_.now_ns();
  const uint64_t turns = counters_.turns.load(std::memory_order_relaxed);
  if (poller.readable(si)) drain_store();
  if (poller.readable(ri)) reader_->drain();
  if ((wmi != SIZE_MAX && poller.readable(wmi)) || (cmi != SIZE_MAX && poller.readable(cmi))) {
    drain_monitors();
  }
  // Reads wait while Redis fails (the writer says when it answers again).
  if (store_ok()) recover();  // once (retried while Redis is down), on the StoreReader
  // A drop is handled once its peer's last messages are read (they may be in this poll).
  // While the recovery read runs, messages wait: no READY, SUBSCRIBE or STATUS before the
  // live jobs are known.
  const bool workers_drained = !messages_wait() && drain_workers();
  const bool clients_drained = !messages_wait() && drain_clients();
  if (!dropped_worker_fds_.empty() || !dropped_client_fds_.empty()) {
    handle_drops(workers_drained, clients_drained);
  }
  if (store_ok()) poll_ingest();
  execute(dispatcher_.tick());
  if (store_ok()) poll_registry();
  commit();
  if (!streams_.idle()) send_lag_notices();
  if (!failing_clients_.empty() || !timed_out_clients_.empty()) check_client_timeouts();
  send_heartbeats();
  if (counters_.turns.load(std::memory_order_relaxed) != turns) count_turn(clock_.now_ns() - start_ns);
  return Status();
}

void BrokerLoop::count_turn(int64_t ns) {
  const auto n = static_cast<uint64_t>(std::max<int64_t>(ns, 0));
  counters_.busy_ns.fetch_add(n, std::memory_order_relaxed);
  counters_.live_jobs.store(jobs_.n_entries(), std::memory_order_relaxed);
  if (n > counters_.max_turn_ns.load(std::memory_order_relaxed)) {
    counters_.max_turn_ns.store(n, std::memory_order_relaxed);  // the loop is the only writer
  }
}

long BrokerLoop::poll_timeout_ms() const {
  if (!batch_->empty()) return 0;  // admissions staged DISPATCHes: commit them now
  int64_t now = clock_.now_ns();
  int64_t next = std::min({next_beat_ns_, next_registry_poll_ns_, next_ingest_wake_ns()});
  if (auto wake = dispatcher_.next_wakeup_ns()) next = std::min(next, *wake);
  int64_t ms = (next - now + 999'999) / 1'000'000;
  // Replies and `lagged` notices waiting for a client's queue: retried soon (ZeroMQ does
  // not say when a peer's queue has room again).
  const long max_ms = streams_.has_pending_sends() ? kRetrySendsMs : kMaxPollMs;
  return static_cast<long>(std::clamp<int64_t>(ms, 0, max_ms));
}

bool BrokerLoop::drain_workers() {
  const wire::RecvLimits limits = recv_limits(options_);
  for (int i = 0; i < options_.max_messages_per_turn; ++i) {
    wire::Received r = wire::recv_frames(workers_, limits);
    if (r.status == wire::RecvStatus::kWouldBlock || r.status == wire::RecvStatus::kClosed) return true;
    if (r.status == wire::RecvStatus::kRejected) {
      count_error(schemas::wire_error_of(r.error));
      continue;
    }
    recv_fd_ = r.src_fd;
    on_worker_frames(r.envelope.routing, r.envelope.frames);
  }
  return false;
}

bool BrokerLoop::drain_clients() {
  const wire::RecvLimits limits = recv_limits(options_);
  for (int i = 0; i < options_.max_messages_per_turn; ++i) {
    wire::Received r = wire::recv_frames(clients_, limits);
    if (r.status == wire::RecvStatus::kWouldBlock || r.status == wire::RecvStatus::kClosed) return true;
    note_client_heard(r.envelope.routing);
    if (r.status == wire::RecvStatus::kRejected) {  // too_large or bad_frame, read whole
      if (r.envelope.routing.size() == 1) reply_error(r.envelope.routing, 0, r.error);
      else count_error(schemas::wire_error_of(r.error));
      continue;
    }
    note_client_fd(r.src_fd, r.envelope.routing);
    on_client_frames(r.envelope.routing, r.envelope.frames);
  }
  return false;
}

void BrokerLoop::send_heartbeats() {
  int64_t now = clock_.now_ns();
  if (now < next_beat_ns_) return;
  next_beat_ns_ = now + options_.heartbeat_ms * 1'000'000;
  schemas::BrokerHeartbeat beat{.broker_time_ms = now_unix_ms()};
  for (const auto& [worker, peer] : worker_routes_) send_worker_now(worker, beat);
}

void BrokerLoop::count_error(schemas::ErrorCode code) {
  counters_.errors[static_cast<size_t>(code)].fetch_add(1, std::memory_order_relaxed);
}

void BrokerLoop::reply_error(const wire::RoutingIds& peer, uint64_t request_id,
                             const Status& status, const std::string& job_id) {
  schemas::ErrorCode code = schemas::wire_error_of(status);
  count_error(code);
  spdlog::debug("broker: error reply {}: {}", schemas::error_code_name(code), status.message());
  post_client(peer, schemas::ErrorReply{.request_id = request_id, .code = code,
                                        .message = schemas::wire_error_message(status),
                                        .job_id = job_id});
}

uint64_t BrokerLoop::now_unix_ms() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace rs::broker
