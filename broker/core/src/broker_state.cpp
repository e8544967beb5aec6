// BrokerState: construction, the turn's structure, heartbeats and errors.
#include "rs/broker/broker_state.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include "rs/schemas/errors.h"
#include "turn_batch.h"

namespace rs::broker {
namespace {

DispatcherOptions dispatcher_options(const BrokerStateOptions& o) {
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

}  // namespace

BrokerState::BrokerState(BrokerStateOptions options, BrokerPorts& ports, const rs::Clock& clock)
    : options_(std::move(options)),
      ports_(ports),
      clock_(clock),
      metrics_(std::make_unique<BrokerMetrics>(counters_)),
      jobs_(std::max<uint32_t>(1, options_.max_attempts), /*owned=*/true),
      dispatcher_(clock, dispatcher_options(options_), &jobs_),
      batch_(std::make_unique<TurnBatch>()),
      held_(std::make_unique<std::deque<HeldTurn>>()) {
  id_prefix_ = options_.id_prefix;
  if (id_prefix_ == 0) {
    std::random_device rd;
    id_prefix_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  const int64_t now = clock_.now_ns();
  next_beat_ns_ = now + options_.heartbeat_ms * 1'000'000;
  next_ingest_ns_ = now;
  next_claim_ns_ = now;
  // Workers re-register within a few heartbeats of a (re)start: until then an entry for a
  // model nobody knows waits instead of failing unknown_model.
  ingest_grace_end_ns_ =
      now + options_.heartbeat_ms * std::max(options_.missed_beats, 1) * 1'000'000;
}

BrokerState::~BrokerState() = default;

void BrokerState::on_journal(const std::vector<size_t>& n_commands) {
  for (size_t n : n_commands) {
    held_->push_back(HeldTurn{.seq = ++journal_replay_seq_, .n_commands = n,
                              .submitted_ns = clock_.now_ns()});
    held_commands_ += n;
  }
  last_submitted_seq_ = journal_replay_seq_;
  counters_.held_commands.store(held_commands_, std::memory_order_relaxed);
}

// While the recovery read runs, messages wait in their sockets (no READY, SUBSCRIBE or
// STATUS before the live jobs are known); so they do while a previous broker's journal
// is re-applied (unless Redis fails).
bool BrokerState::messages_wait() const {
  return recovery_reading_ || (replaying_journal() && !store_failing_);
}

void BrokerState::begin_turn() {
  turn_start_ns_ = clock_.now_ns();
  turns_at_begin_ = counters_.turns.load(std::memory_order_relaxed);
  if (store_ok()) recover();  // once (retried while Redis is down), on the StoreReader
}

void BrokerState::end_turn(bool workers_drained, bool clients_drained) {
  // A drop is handled once its peer's last messages are read (they may be in this turn).
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
  publish_metrics();
  if (counters_.turns.load(std::memory_order_relaxed) == turns_at_begin_) return;
  const auto n = static_cast<uint64_t>(std::max<int64_t>(clock_.now_ns() - turn_start_ns_, 0));
  counters_.busy_ns.fetch_add(n, std::memory_order_relaxed);
  metrics_->turn(static_cast<double>(n) / 1e9);
  counters_.live_jobs.store(jobs_.n_entries(), std::memory_order_relaxed);
  if (n > counters_.max_turn_ns.load(std::memory_order_relaxed)) {
    counters_.max_turn_ns.store(n, std::memory_order_relaxed);  // one writer: this thread
  }
}

long BrokerState::poll_timeout_ms(long max_ms) const {
  constexpr long kRetrySendsMs = 5;  // held replies and `lagged` notices are retried this often
  if (!batch_->empty()) return 0;    // admissions staged DISPATCHes: commit them now
  int64_t now = clock_.now_ns();
  int64_t next = std::min({next_beat_ns_, next_registry_poll_ns_, next_ingest_wake_ns()});
  if (auto wake = dispatcher_.next_wakeup_ns()) next = std::min(next, *wake);
  int64_t ms = (next - now + 999'999) / 1'000'000;
  // Replies and `lagged` notices waiting for a client's queue: retried soon (ZeroMQ does
  // not say when a peer's queue has room again).
  if (streams_.has_pending_sends()) max_ms = std::min(max_ms, kRetrySendsMs);
  return static_cast<long>(std::clamp<int64_t>(ms, 0, max_ms));
}

void BrokerState::on_client_message(const RoutingIds& peer, int fd, const schemas::Frames& frames,
                                    const AllowedKey* sender) {
  metrics_->received(frames);
  note_client_heard(peer);
  note_client_fd(fd, peer);
  sender_ = sender;
  on_client_frames(peer, frames);
  sender_ = nullptr;
}

bool BrokerState::hidden_from_sender(const std::string& job_tenant) const {
  return sender_ != nullptr && sender_->role == PeerRole::kClient && job_tenant != sender_->tenant;
}

std::string BrokerState::sender_tenant() const {
  return sender_ != nullptr && sender_->role == PeerRole::kClient ? sender_->tenant : std::string();
}

void BrokerState::on_client_rejected(const RoutingIds& peer, const Status& error) {
  note_client_heard(peer);
  metrics_->malformed(schemas::wire_error_of(error));
  if (peer.size() == 1) reply_error(peer, 0, error);
  else count_error(schemas::wire_error_of(error));
}

void BrokerState::on_worker_message(const RoutingIds& peer, int fd, const schemas::Frames& frames,
                                    const AllowedKey* sender) {
  recv_fd_ = fd;
  metrics_->received(frames);
  sender_ = sender;
  on_worker_frames(peer, frames);
  sender_ = nullptr;
}

void BrokerState::on_worker_rejected(const Status& error) {
  count_malformed(schemas::wire_error_of(error));
}

void BrokerState::send_heartbeats() {
  int64_t now = clock_.now_ns();
  if (now < next_beat_ns_) return;
  next_beat_ns_ = now + options_.heartbeat_ms * 1'000'000;
  schemas::BrokerHeartbeat beat{.broker_time_ms = now_unix_ms()};
  for (const auto& [worker, peer] : worker_routes_) send_worker_now(worker, beat);
}

void BrokerState::count_error(schemas::ErrorCode code) {
  counters_.errors[static_cast<size_t>(code)].fetch_add(1, std::memory_order_relaxed);
}

void BrokerState::count_rejected(schemas::ErrorCode code) {
  counters_.rejected.fetch_add(1, std::memory_order_relaxed);
  count_error(code);
  metrics_->rejected(code);
}

void BrokerState::count_malformed(schemas::ErrorCode code) {
  count_error(code);
  metrics_->malformed(code);
}

// The gauges a scrape reads: queues, devices, streams, Redis (at most once a second).
void BrokerState::publish_metrics() {
  const int64_t now = clock_.now_ns();
  if (now < next_metrics_ns_) return;
  next_metrics_ns_ = now + 1'000'000'000;
  std::vector<BrokerMetrics::QueueLane> lanes;
  for (const JobQueue::LaneStats& l : dispatcher_.queue().lane_stats()) {
    lanes.push_back({.model = l.model, .priority = l.priority, .depth = l.depth,
                     .oldest_age_s = static_cast<double>(now - l.oldest_enqueued_ns) / 1e9});
  }
  std::map<std::string, size_t> devices;
  for (const auto& [id, worker] : dispatcher_.workers().workers()) {
    for (const auto& [index, device] : worker.devices) {
      std::set<std::string> names;  // a device serving two versions counts once per name
      for (const ModelName& key : device.models) names.insert(key.substr(0, key.find('@')));
      for (const std::string& name : names) ++devices[name];
    }
  }
  // Every served model's lanes have a series (0 when empty), so a dashboard has no gaps.
  for (const auto& [name, n] : devices) {
    for (Priority p : {Priority::kInteractive, Priority::kBatch}) {
      lanes.push_back({.model = name, .priority = p, .depth = 0, .oldest_age_s = 0});
    }
  }
  metrics_->publish_queues(lanes);
  metrics_->publish_devices(dispatcher_.workers().size(), devices);
  size_t streams = 0;
  for (const auto& [id, entry] : jobs_.entries()) {
    const LiveJob& job = entry.stream;
    streams += job.subscribers.size();
    if (job.request.stream && !job.submitter.empty() && !job.submitter_subscribed) ++streams;
  }
  metrics_->publish_subscribers(streams);
  metrics_->publish_redis_up(!store_failing_ && !registry_failing_);
}

void BrokerState::reply_error(const RoutingIds& peer, uint64_t request_id,
                              const Status& status, const std::string& job_id) {
  schemas::ErrorCode code = schemas::wire_error_of(status);
  count_error(code);
  spdlog::debug("broker: error reply {}: {}", schemas::error_code_name(code), status.message());
  post_client(peer, schemas::ErrorReply{.request_id = request_id, .code = code,
                                        .message = schemas::wire_error_message(status),
                                        .job_id = job_id});
}

uint64_t BrokerState::now_unix_ms() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace rs::broker
