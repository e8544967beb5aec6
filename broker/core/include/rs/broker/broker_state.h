// BrokerState: everything the broker knows and decides, with no I/O. It owns the JobTable
// (one entry per live job: its placement for the Dispatcher, and its request, record,
// submitter, subscribers, next seq and tokens), the Dispatcher, ClientStreams, the turns
// whose writes wait for the store, the peers' connections and the ingest, registry and
// recovery progress. Events come in (a client's or worker's frames, a dropped connection,
// an applied or failing store batch, a StoreReader result, the end of a turn); effects go
// out through BrokerPorts as typed values: sends (answered at once: sent, would block,
// unroutable), a turn's StoreBatch, ReaderTasks. Time comes from the injected Clock. One
// thread (the broker loop's); the counters may be read from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "rs/broker/access_list.h"
#include "rs/broker/broker_counters.h"
#include "rs/broker/broker_metrics.h"
#include "rs/broker/client_streams.h"
#include "rs/broker/dispatcher.h"
#include "rs/broker/job_table.h"
#include "rs/broker/store_ops.h"
#include "rs/core/clock.h"
#include "rs/schemas/codec.h"
#include "rs/schemas/frames.h"

namespace rs::broker {

struct BrokerStateOptions {
  size_t max_queued = 10000;
  int64_t heartbeat_ms = 1000;
  int missed_beats = 3;
  uint32_t max_attempts = 3;
  // Batch priority: interactive jobs may take a device up to slots + this while it runs
  // batch jobs (its engine preempts one); batch jobs stay within slots (docs/BROKER.md).
  uint32_t interactive_reserve = 4;
  int64_t queue_timeout_ms = 30000;
  // A job whose model (version) no device serves fails model_unavailable after this.
  int64_t model_wait_ms = 10000;
  // How often the registry epoch is read (active / canary versions re-read when it moved).
  int64_t registry_poll_ms = 500;
  size_t max_sessions = 100000;  // session -> version entries kept (session stickiness)
  schemas::Limits limits;
  // Messages queued per client (--max-client-lag). A subscriber (or streaming submitter)
  // whose queue is full is dropped from that job and told `lagged`; it SUBSCRIBEs again
  // from its last seq and catches up from the log.
  int client_sndhwm = 100000;
  // --client-timeout-ms: a client from which nothing (PING included) arrived for this long
  // while every send to it in that time failed (its queue full, or unroutable) is gone, as
  // if its connection dropped: its streaming jobs not submitted detached are cancelled and
  // its subscriptions end (docs/BROKER.md "Peers that go away"). 0 = never.
  int64_t client_timeout_ms = 30000;
  // Ingest stream (docs/BROKER.md "Ingest"): entries per read, the idle poll interval, and
  // how long an entry stays pending on a consumer before another claims it. 0 = no ingest.
  size_t ingest_batch = 256;
  int64_t ingest_poll_ms = 10;
  int64_t ingest_claim_ms = 30000;
  // Finished job hashes (not dead-lettered ones) and token streams expire after this; 0 = keep.
  int64_t finished_ttl_s = 0;
  // Restart recovery (docs/BROKER.md "Restarts"): jobs Redis says were dispatched wait this
  // long for their worker's READY to list them before they are requeued.
  int64_t recovery_wait_ms = 5000;
  // Past this many held store commands, SUBMITs get `unavailable` and dispatch pauses
  // (queued jobs wait, without their queue timeout running; running jobs go on).
  size_t max_held_writes = 1'000'000;
  // The prefix of this broker's job ids and the seed of the sampling seeds it picks;
  // 0 = random (each broker its own). Set by deterministic simulations.
  uint64_t id_prefix = 0;
};

enum class SendResult : uint8_t {
  kSent,
  kWouldBlock,  // the peer's queue is full: nothing sent
  kUnroutable,  // no such peer (gone)
  kFailed,      // anything else
};

// Where BrokerState's effects go: the broker loop's sockets, StoreWriter and StoreReader
// (or a test's fakes). Called on the state's thread, during an event.
class BrokerPorts {
 public:
  virtual ~BrokerPorts() = default;
  virtual SendResult send_client(const RoutingIds& peer, const schemas::Frames& frames) = 0;
  virtual SendResult send_worker(const RoutingIds& route, const schemas::Frames& frames) = 0;
  struct Submitted {
    uint64_t seq = 0;         // the batch's number: 1, 2, ... in submission order
    size_t n_commands = 0;    // what it holds in the store's terms (the held-writes bound)
    bool releasable = true;   // it may be acted on before it is applied (journaled, or no journal)
  };
  // A turn's writes and reads, applied in order (on_batch_applied answers it).
  virtual Submitted submit(StoreBatch batch) = 0;
  // A StoreReader read (answered by on_registry_read / on_ingest_read / on_live_read).
  virtual void read(ReaderTask task) = 0;
};

class TurnBatch;
struct PendingCreate;
struct HeldTurn;
struct DeferredRead;
struct Outgoing;

// RouteRequest::prompt for a request: its prompt text, or the bytes of its prompt_ids
// (the first kRoutePromptBytes): same tokens, same device.
std::string route_prompt(const schemas::SubmitRequest& request);

class BrokerState {
 public:
  BrokerState(BrokerStateOptions options, BrokerPorts& ports,
              const rs::Clock& clock = rs::SteadyClock::instance());
  ~BrokerState();
  BrokerState(const BrokerState&) = delete;
  BrokerState& operator=(const BrokerState&) = delete;

  // --- Events ---
  // Batches 1..n are a previous broker's journal, re-applied before anything else
  // (n_commands: each one's size). Before the first turn.
  void on_journal(const std::vector<size_t>& n_commands);
  // A message from a client / worker; fd: its connection (-1: unknown). sender: the key it
  // was authenticated with (CURVE; nullptr on an insecure broker): a worker's id is its
  // key's name, a client key sees only its tenant's jobs (docs/SECURITY.md).
  void on_client_message(const RoutingIds& peer, int fd, const schemas::Frames& frames,
                         const AllowedKey* sender = nullptr);
  void on_worker_message(const RoutingIds& peer, int fd, const schemas::Frames& frames,
                         const AllowedKey* sender = nullptr);
  // The worker's key left the allow-list: it is gone (its jobs are re-dispatched).
  void on_worker_revoked(const std::string& worker);
  // A client's message that could not be read whole (too large, bad frames): answered.
  void on_client_rejected(const RoutingIds& peer, const Status& error);
  void on_worker_rejected(const Status& error);
  // A connection closed (its messages read or not: handled at the turn's end, once read).
  void on_worker_fd_closed(int fd);
  void on_client_fd_closed(int fd);
  // The store writer: a batch applied (its replies), or failing (retried in order).
  // journaled_seq: every batch up to it is in the journal (UINT64_MAX: no journal).
  // (A replay's tokens are moved out of `replies`.)
  void on_batch_applied(uint64_t seq, int attempts, BatchReplies& replies);
  void on_store_failing(uint64_t seq, const Status& error, uint64_t journaled_seq);
  void on_registry_read(RegistryRead read);
  void on_ingest_read(IngestRead read);
  void on_live_read(LiveRead read);
  // Before the turn's messages: reads that may start (recovery).
  void begin_turn();
  // After them: drops, ingest, timers, the registry, the commit of the turn's writes,
  // held sends, client timeouts, heartbeats. *_drained: every message was read.
  void end_turn(bool workers_drained, bool clients_drained);

  // --- Queries ---
  // Messages wait in their sockets (recovery is reading, or a journal is being re-applied).
  bool messages_wait() const;
  // The longest the loop may poll before the next end_turn() has work (ms, capped).
  long poll_timeout_ms(long max_ms) const;
  bool store_failing() const { return store_failing_; }
  const BrokerCounters& counters() const { return counters_; }
  // The Prometheus metrics (rendered by another thread; docs/METRICS.md).
  BrokerMetrics& metrics() { return *metrics_; }
  BrokerCounters& counters() { return counters_; }
  const JobTable& jobs() const { return jobs_; }
  const Dispatcher& dispatcher() const { return dispatcher_; }
  const ClientStreams& streams() const { return streams_; }

 private:
  using Subscriber = JobSubscriber;
  using LiveJob = JobStream;  // the state's wire part of a JobTable entry
  LiveJob* live_job(const JobId& id) {
    JobEntry* e = jobs_.find_any(id);
    return e != nullptr ? &e->stream : nullptr;
  }
  bool is_live(const JobId& id) const { return jobs_.find_any(id) != nullptr; }
  struct FailingClient {  // a client whose sends fail (state_peers.cpp)
    int64_t failing_since_ns = 0;  // the stretch of failed sends began (none went since)
    int64_t last_failed_ns = 0;
    int64_t last_heard_ns = 0;  // its last message (the stretch's start if none since)
    bool timed_out = false;
  };
  struct DeviceHeartbeat {  // one device's last WORKER_HEARTBEAT figures
    schemas::DeviceLoad load;
    uint64_t at_ms = 0;
  };

  // broker_state.cpp: turns, heartbeats, errors.
  void send_heartbeats();
  void count_error(schemas::ErrorCode code);
  void count_rejected(schemas::ErrorCode code);   // a SUBMIT answered REJECTED
  void count_malformed(schemas::ErrorCode code);  // peer input refused
  void publish_metrics();                         // the periodic gauges (once a second)
  void reply_error(const RoutingIds& peer, uint64_t request_id, const Status& status,
                   const std::string& job_id = {});
  uint64_t now_unix_ms() const;

  // state_peers.cpp: connections that drop: a worker is expired at once, a client's
  // streaming jobs that were not detached are cancelled.
  void handle_drops(bool workers_drained, bool clients_drained);
  void note_worker_fd(int fd, const std::string& worker);
  void note_client_fd(int fd, const RoutingIds& peer);
  void on_worker_connection_lost(int fd);
  void on_client_connection_lost(int fd);
  static void forget_drop_event(int fd, std::vector<int>& dropped,
                                std::unordered_map<int, int>& stale);
  void on_client_gone(const std::string& client, const char* why);
  void note_client_send(const RoutingIds& peer, SendResult status) {
    if (status != SendResult::kSent) return on_client_send_failed(peer.front());
    if (!failing_clients_.empty()) failing_clients_.erase(peer.front());
  }
  void note_client_heard(const RoutingIds& peer);
  void on_client_send_failed(const std::string& client);
  void check_client_timeouts();

  // state_recovery.cpp
  void recover();
  void recover_jobs(std::vector<StoredLiveJob> jobs);
  void restore_tokens(const std::vector<JobId>& ids, std::vector<LogPrefix>& logs,
                      size_t round_trips);
  void start_recovered();
  void on_adopted(const Action& action);

  // state_registry.cpp
  void poll_registry();

  // state_outbox.cpp: replies are posted during a turn and sent after its commit.
  template <typename T>
  void post_client(const RoutingIds& peer, const T& message) {
    post_client_frames(peer, schemas::make_frames(message));
  }
  template <typename T>
  void post_worker(const std::string& worker, const T& message) {
    if constexpr (std::is_same_v<T, schemas::Dispatch>) {
      post_worker_frames(worker, schemas::make_frames(message), message.job_id);
    } else {
      post_worker_frames(worker, schemas::make_frames(message), {});
    }
  }
  void post_client_frames(const RoutingIds& peer, schemas::Frames frames);
  void post_worker_frames(const std::string& worker, schemas::Frames frames,
                          const std::string& dispatch_job);
  void send_outbox(TurnBatch& batch);
  void send_to_client(Outgoing& out);
  // seq: the held turn whose outbox holds what is not sent now.
  void release_tokens(TurnBatch& batch, uint64_t seq);
  void release_held_tokens();
  bool replaying_journal() const { return applied_seq_ < journal_replay_seq_; }
  void post_stream(const RoutingIds& peer, const JobId& job, const schemas::TokenBatch& batch) {
    if (batch.entries.empty()) return;
    post_stream_frames(peer, job, schemas::make_frames(batch), batch.entries.front().seq, true);
  }
  void post_stream(const RoutingIds& peer, const JobId& job, const schemas::Done& done,
                   uint64_t next_seq) {
    post_stream_frames(peer, job, schemas::make_frames(done), next_seq);
  }
  void post_stream_frames(const RoutingIds& peer, const JobId& job, schemas::Frames frames,
                          uint64_t first_seq, bool tokens = false);
  void on_client_lagged(const RoutingIds& peer, const JobId& job, uint64_t next_seq);
  void send_lag_notices();
  void send_client_now(const RoutingIds& peer, const schemas::Message& message);
  void hold_reply(const RoutingIds& peer, schemas::Frames frames);
  bool send_worker_now(const std::string& worker, const schemas::Message& message);
  void forget_worker_route(const std::string& worker);

  // state_commit.cpp
  void commit();
  void check_write_replies(TurnBatch& batch, const std::vector<WriteResult>& results);
  void answer_creates(TurnBatch& batch, const BatchReplies* replies);
  void answer_create(TurnBatch& batch, PendingCreate& pc, const Result<CreateOutcome>& r,
                     bool dup_in_turn);
  bool withdraw(const JobId& job);
  void admit(RoutingIds peer, schemas::SubmitRequest request, schemas::JobRecord record,
             std::string batch = {}, std::string item_id = {});

  // state_store_events.cpp
  void refuse_held_creates(const Status& why);
  void update_dispatch_pause();
  bool store_ok() const;
  uint64_t pending_seq() const;
  void defer_read(DeferredRead read);
  void stage_read(DeferredRead read);
  void answer_reads(TurnBatch& held, BatchReplies& replies, bool live);
  void answer_read(const DeferredRead& read, const std::vector<ReadResult*>& results);
  void run_deferred(uint64_t applied_seq);
  void send_pong(const DeferredRead& ping);

  // state_clients.cpp
  void on_client_frames(const RoutingIds& peer, const schemas::Frames& frames);
  void on_submit(const RoutingIds& peer, schemas::SubmitRequest request);
  Status precheck_submit(const schemas::SubmitRequest& request) const;
  bool reject_bad_submit(const RoutingIds& peer, const schemas::Frames& frames,
                         const Status& error);
  void reject_submit(const RoutingIds& peer, uint64_t request_id, const Status& s);
  void on_cancel(const RoutingIds& peer, const schemas::CancelRequest& request);
  void on_status(const RoutingIds& peer, const schemas::StatusRequest& request);
  void on_ping(const RoutingIds& peer, const schemas::Ping& ping);
  void on_workers(const RoutingIds& peer, const schemas::WorkersRequest& request);
  schemas::DeviceStatus device_status(const DeviceKey& key, const DeviceState& dev) const;
  void status_ended(const DeferredRead& read, const Result<schemas::JobRecord>& record);
  std::string new_job_id();
  uint64_t new_seed();
  schemas::JobRecord new_record(const schemas::SubmitRequest& request);

  // state_streams.cpp
  void on_subscribe(const RoutingIds& peer, const schemas::SubscribeRequest& request);
  uint64_t post_replay(const RoutingIds& peer, const std::string& job_id,
                       std::vector<schemas::TokenEntry>& entries, uint64_t from_seq,
                       uint64_t until_seq);
  void subscribe_ended(const DeferredRead& read, const Result<schemas::JobRecord>& record,
                       Result<LogRead>& log);
  void accept_tokens(std::vector<schemas::TokenEntry>& entries);  // moves the entries out
  void stage_token_appends(std::vector<schemas::TokenEntry> entries);
  // Posts the entries to their jobs' submitters and subscribers; returns them grouped per
  // job, in first-seen order.
  std::vector<std::pair<JobId, schemas::TokenBatch>> forward_tokens(
      std::vector<schemas::TokenEntry> entries);

  // state_workers.cpp
  void on_worker_frames(const RoutingIds& peer, const schemas::Frames& frames);
  void on_ready(const RoutingIds& peer, const schemas::WorkerReady& ready);
  void on_heartbeat(const std::string& worker, const schemas::WorkerHeartbeat& beat);
  void on_tokens(const std::string& worker, schemas::WorkerTokens& tokens);
  void on_done(const std::string& worker, const schemas::WorkerDone& done);
  void on_failed(const std::string& worker, const schemas::WorkerFailed& failed);
  void on_worker_disconnect(const RoutingIds& peer, const std::string& worker,
                            const std::string& reason);
  JobEntry* current_entry(const std::string& worker, const schemas::TokenEntry& e);
  std::string worker_of(const RoutingIds& peer) const;

  // state_ingest.cpp
  void poll_ingest();
  void start_ingest_read(size_t room);
  void ingest_entries(std::vector<IngestJob> entries);
  bool ingest_entry(IngestJob& entry);
  size_t ingest_room() const;
  void answer_ingest(PendingCreate& pc, const Result<CreateOutcome>& r, bool dup_in_turn);
  void finish_batch_job(const JobId& id, const LiveJob& job);
  int64_t next_ingest_wake_ns() const;

  // state_actions.cpp
  void execute(const Actions& actions);
  void execute_dispatch(const Action& action);
  void execute_requeued(const Action& action);
  void end_job(const JobId& job, schemas::JobState state, schemas::ErrorCode code,
               const std::string& error, const schemas::WorkerDone* worker_done);
  schemas::Usage finish_usage(const LiveJob& job, const schemas::Usage* worker_usage) const;
  void write_transition(const JobId& job, schemas::JobTransition t);
  void add_write(StoreWrite write);

  BrokerStateOptions options_;
  BrokerPorts& ports_;
  const rs::Clock& clock_;
  BrokerCounters counters_;
  std::unique_ptr<BrokerMetrics> metrics_;  // mirrors counters_
  int64_t next_metrics_ns_ = 0;
  JobTable jobs_;  // every live job: the Dispatcher's part and the state's (JobStream)
  Dispatcher dispatcher_;
  std::unordered_map<std::string, RoutingIds> worker_routes_;  // worker id -> peer
  std::map<std::string, std::string> peer_workers_;            // peer id -> worker id
  std::unordered_map<int, std::string> worker_fds_;  // connection fd -> worker id (from READY)
  std::unordered_map<int, std::string> client_fds_;  // connection fd -> client routing id
  int recv_fd_ = -1;  // the connection of the message being handled
  const AllowedKey* sender_ = nullptr;  // its key (CURVE), while it is handled
  // A client key of another tenant than the job's: the job is "not found" to it.
  bool hidden_from_sender(const std::string& job_tenant) const;
  std::string sender_tenant() const;  // a client key's tenant; "" = any
  std::unordered_map<std::string, int> client_fd_of_;  // client routing id -> its latest fd
  std::vector<int> dropped_worker_fds_;  // connections gone, handled once their messages are read
  std::vector<int> dropped_client_fds_;
  // A descriptor reused by a new connection before the old one's drop event was read: that
  // event (still to come) is the old connection's, already handled; skip it.
  std::unordered_map<int, int> stale_worker_drops_;
  std::unordered_map<int, int> stale_client_drops_;
  std::unordered_map<std::string, FailingClient> failing_clients_;  // by client routing id
  std::vector<std::string> timed_out_clients_;
  int64_t next_failing_sweep_ns_ = 0;
  ClientStreams streams_;  // what of each (client, job) stream may still go out
  std::unique_ptr<TurnBatch> batch_;  // this turn's writes and replies, not yet done
  std::unique_ptr<std::deque<HeldTurn>> held_;  // turns whose writes are not applied yet
  std::vector<DeferredRead> deferred_;          // PINGs waiting for a batch to be applied
  size_t held_commands_ = 0;
  uint64_t applied_seq_ = 0;         // the last batch the store applied
  uint64_t last_submitted_seq_ = 0;  // the last batch handed to the store
  uint64_t journal_replay_seq_ = 0;  // batches 1..this are a previous broker's journal
  uint64_t released_seq_ = 0;  // the last held turn whose TOKENS went out from memory
  // (client, job) -> the last held turn with TOKENS of that stream kept back (its replay
  // was pending): later TOKENS of the stream wait for that turn too.
  std::map<std::pair<std::string, JobId>, uint64_t> kept_;
  bool store_failing_ = false;  // a batch failed and is being retried
  std::unordered_map<std::string, std::map<int32_t, DeviceHeartbeat>> loads_;  // by worker
  int64_t next_beat_ns_ = 0;
  int64_t next_registry_poll_ns_ = 0;
  std::optional<uint64_t> registry_epoch_;
  bool registry_failing_ = false;
  bool registry_reading_ = false;
  int64_t next_ingest_ns_ = 0;
  int64_t next_claim_ns_ = 0;
  int64_t ingest_grace_end_ns_ = 0;  // until then, unknown models wait (workers re-register)
  bool ingest_group_ready_ = false;
  bool ingest_reading_ = false;
  bool ingest_failing_ = false;
  std::string own_pending_cursor_ = "0";
  bool own_pending_done_ = false;
  std::vector<IngestJob> ingest_deferred_;  // unknown model during the grace, or no room
  bool recovered_ = false;
  bool recovery_failing_ = false;
  bool recovery_reading_ = false;
  std::vector<RecoveredJob> recovered_jobs_;
  int64_t next_recovery_ns_ = 0;
  uint64_t id_prefix_ = 0;
  uint64_t id_counter_ = 0;
  uint64_t seed_counter_ = 0;
  uint64_t turns_at_begin_ = 0;
  int64_t turn_start_ns_ = 0;
};

}  // namespace rs::broker
