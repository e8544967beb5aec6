// BrokerLoop: the broker's one thread and one poll loop. Owns the client and worker ROUTER
// sockets, the StoreWriter (the thread that applies its Redis writes and the reads that
// follow them, in order, retried until applied), the StoreReader (the thread of its
// registry, ingest and recovery reads), the JobTable of live jobs (their wire state:
// submitter, subscribers, next sequence number, tokens; and, given to the Dispatcher, their
// placement) and ClientStreams (what of each client's streams and replies may go out). Each turn drains
// every ready message and hands the turn's Redis changes to the writer as one pipeline; the
// turn's replies go out once those writes are applied (docs/BROKER.md, "The loop").
// Constructed, bound and run on one thread; only request_stop() and the counters may be
// called from another thread.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "rs/broker/client_streams.h"
#include "rs/broker/dispatcher.h"
#include "rs/core/clock.h"
#include "rs/core/result.h"
#include "rs/schemas/frames.h"
#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"
#include "rs/store/model_registry.h"
#include "rs/store/redis_connection.h"
#include "rs/store/token_log.h"
#include "rs/wire/framing.h"
#include "rs/wire/peer_monitor.h"

namespace rs::broker {

struct BrokerOptions {
  std::string client_endpoint = "tcp://127.0.0.1:*";
  std::string worker_endpoint = "tcp://127.0.0.1:*";
  store::RedisOptions redis;
  std::string key_prefix = "rs:";
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
  // ZMQ_MAXMSGSIZE of both ROUTERs: a frame above it makes ZeroMQ drop the connection
  // (no reply possible). 0 = 2 x limits.max_frame_bytes + 64 KiB. Frames between
  // max_frame_bytes and this cap are read, dropped and answered `too_large`.
  int64_t socket_max_msg_bytes = 0;
  // Messages queued per client (--max-client-lag). A subscriber (or streaming submitter)
  // whose queue is full is dropped from that job and told `lagged`; it SUBSCRIBEs again
  // from its last seq and catches up from the log.
  int client_sndhwm = 100000;
  // --client-timeout-ms: a client from which nothing (PING included) arrived for this long
  // while every send to it in that time failed (its queue full, or unroutable) is gone, as
  // if its connection dropped: its streaming jobs not submitted detached are cancelled and
  // its subscriptions end (docs/BROKER.md "Peers that go away"). 0 = never.
  int64_t client_timeout_ms = 30000;
  int max_messages_per_turn = 1024;  // per socket, per loop turn
  // Ingest stream (docs/BROKER.md "Ingest"): this broker's consumer name in the group
  // "brokers", entries per read, the idle poll interval, and how long an entry stays
  // pending on a consumer before another claims it. ingest_batch 0 = no ingest.
  std::string broker_id = "broker";
  size_t ingest_batch = 256;
  int64_t ingest_poll_ms = 10;
  int64_t ingest_claim_ms = 30000;
  // Finished job hashes (not dead-lettered ones) and token streams expire after this; 0 = keep.
  int64_t finished_ttl_s = 0;
  // Restart recovery (docs/BROKER.md "Restarts"): jobs Redis says were dispatched wait this
  // long for their worker's READY to list them before they are requeued.
  int64_t recovery_wait_ms = 5000;
  // Redis outages (docs/BROKER.md "When Redis fails"): a write batch not applied within
  // store_timeout_ms is retried (never dropped) and new SUBMITs get `unavailable` until
  // every held write is applied; past max_held_writes held commands, SUBMITs get
  // `unavailable` too. The StoreReader's reads (registry and ingest polls, recovery) are
  // each bounded by read_timeout_ms and start only while the writer keeps up. Past
  // max_held_writes the broker also stops dispatching (queued jobs wait, without their
  // queue timeout running; running jobs go on) until the held commands fall back under it.
  int store_timeout_ms = 1000;
  int read_timeout_ms = 250;
  size_t max_held_writes = 1'000'000;
  // --journal: a local file where the write batches held while Redis fails are appended
  // (emptied once they are applied), so a broker killed meanwhile re-applies them at its
  // next start, before recovery; TOKENS go out from memory only once their writes are in
  // it. "" = no journal (held writes are in memory only).
  std::string journal_path;
};

// Counters readable from any thread (relaxed atomics).
struct BrokerCounters {
  std::array<std::atomic<uint64_t>, schemas::kErrorCodeCount> errors{};  // by ErrorCode
  std::atomic<uint64_t> submitted{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> finished{0};
  std::atomic<uint64_t> tokens{0};
  std::atomic<uint64_t> stale_dropped{0};
  std::atomic<uint64_t> send_failures{0};
  std::atomic<uint64_t> redis_errors{0};
  std::atomic<uint64_t> client_drops{0};       // replies dropped: the client's held replies were full
  std::atomic<uint64_t> replies_held{0};       // replies kept for a client whose queue was full
  std::atomic<uint64_t> retried{0};            // WORKER_FAILED (retryable) -> requeued
  std::atomic<uint64_t> dispatched{0};         // attempts dispatched (DISPATCHes staged)
  std::atomic<uint64_t> heartbeats{0};         // WORKER_HEARTBEATs from known workers
  std::atomic<uint64_t> turns{0};              // loop turns that had work to commit
  std::atomic<uint64_t> redis_round_trips{0};  // pipelines sent (commit + reads)
  std::atomic<uint64_t> busy_ns{0};            // time in turns that had work (poll excluded)
  std::atomic<uint64_t> max_turn_ns{0};        // the longest such turn
  std::atomic<uint64_t> registry_reads{0};     // registry re-reads (the epoch moved)
  std::atomic<uint64_t> registry_epoch{0};     // the registry epoch last read
  std::atomic<uint64_t> ingested{0};           // ingest entries read or claimed
  std::atomic<uint64_t> ingest_claimed{0};     // of which claimed from a stale consumer
  std::atomic<uint64_t> ingest_trimmed{0};     // acknowledged entries deleted from the stream
  std::atomic<uint64_t> batch_results{0};      // results appended to batch streams
  std::atomic<uint64_t> recovered{0};          // live jobs read back from Redis at start
  std::atomic<uint64_t> adopted{0};            // jobs a re-registering worker carried on
  std::atomic<uint64_t> resumed_from_log{0};   // recovered jobs given their logged tokens back
  std::atomic<uint64_t> store_outages{0};      // stretches of failing Redis writes
  std::atomic<uint64_t> writes_retried{0};     // write batches applied after a retry
  std::atomic<uint64_t> creates_discarded{0};  // SUBMITs refused after staging (Redis failed)
  std::atomic<uint64_t> held_commands{0};      // Redis commands staged, not yet applied
  std::atomic<uint64_t> writer_cpu_ns{0};      // CPU time of the StoreWriter thread so far
  std::atomic<uint64_t> workers_dropped{0};    // workers expired because their connection dropped
  std::atomic<uint64_t> submitters_gone{0};    // jobs cancelled: their submitter's connection dropped
  std::atomic<uint64_t> clients_lagged{0};     // subscriptions dropped: the client fell behind
  std::atomic<uint64_t> clients_timed_out{0};  // clients gone silent with every send failing
  std::atomic<uint64_t> dispatch_pauses{0};    // times dispatch paused: max_held_writes reached
  std::atomic<uint64_t> live_jobs{0};          // gauge: JobTable entries (set each busy turn)
  uint64_t error_count(schemas::ErrorCode code) const {
    return errors[static_cast<size_t>(code)].load(std::memory_order_relaxed);
  }
};

class TurnBatch;
class StoreWriter;
struct PendingCreate;
struct HeldTurn;
struct DeferredRead;
struct StoreEvent;
struct Outgoing;
class StoreReader;
struct RegistryRead;
struct IngestRead;
struct RecoveryRead;

class BrokerLoop {
 public:
  BrokerLoop(zmq::context_t& context, BrokerOptions options,
             const rs::Clock& clock = rs::SteadyClock::instance());
  ~BrokerLoop();
  BrokerLoop(const BrokerLoop&) = delete;
  BrokerLoop& operator=(const BrokerLoop&) = delete;

  // Makes and binds both sockets and connects to Redis. Call once, before run().
  Status bind();
  const std::string& client_endpoint() const { return client_endpoint_; }
  const std::string& worker_endpoint() const { return worker_endpoint_; }

  // Runs until request_stop(); returns the reason it stopped (ok on request).
  Status run();
  // One loop turn with a poll of at most max_wait_ms (tests, custom drivers).
  Status run_once(long max_wait_ms);
  // Any thread: run() returns within ~50 ms.
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }

  const BrokerCounters& counters() const { return counters_; }

 private:
  using Subscriber = JobSubscriber;
  using LiveJob = JobStream;  // the loop's part of a JobTable entry
  // The loop's part of a live job (admitted or not yet), nullptr if none.
  LiveJob* live_job(const JobId& id) {
    JobEntry* e = jobs_.find_any(id);
    return e != nullptr ? &e->stream : nullptr;
  }
  bool is_live(const JobId& id) const { return jobs_.find_any(id) != nullptr; }
  struct FailingClient {  // a client whose sends fail (peers.cpp)
    int64_t failing_since_ns = 0;  // the stretch of failed sends began (none went since)
    int64_t last_failed_ns = 0;
    int64_t last_heard_ns = 0;  // its last message (the stretch's start if none since)
    bool timed_out = false;
  };
  struct DeviceHeartbeat {  // one device's last WORKER_HEARTBEAT figures
    schemas::DeviceLoad load;
    uint64_t at_ms = 0;
  };

  // broker_loop.cpp: the loop, receive paths, heartbeats, errors.
  // Both return false when they stopped at max_messages_per_turn (more may wait).
  bool drain_clients();
  bool drain_workers();
  long poll_timeout_ms() const;
  void send_heartbeats();
  void count_turn(int64_t ns);
  void count_error(schemas::ErrorCode code);
  void reply_error(const wire::RoutingIds& peer, uint64_t request_id, const Status& status,
                   const std::string& job_id = {});
  uint64_t now_unix_ms() const;

  // peers.cpp: connections that drop (socket monitors): a worker is expired at once, a
  // client's streaming jobs that were not detached are cancelled.
  void start_monitors();
  void drain_monitors();
  void handle_drops(bool workers_drained, bool clients_drained);
  void note_worker_fd(int fd, const std::string& worker);
  void note_client_fd(int fd, const wire::RoutingIds& peer);
  void on_worker_connection_lost(int fd);
  void on_client_connection_lost(int fd);
  // fd now carries another peer's messages: the old connection on it is gone.
  static void forget_drop_event(int fd, std::vector<int>& dropped,
                                std::unordered_map<int, int>& stale);
  // A dropped connection or a timed-out client: its jobs and subscriptions end.
  void on_client_gone(const std::string& client, const char* why);
  // Clients that stop answering (client_timeout_ms). Hot paths pay one emptiness test
  // unless some client's sends are failing.
  void note_client_send(const wire::RoutingIds& peer, wire::SendStatus status) {
    if (status != wire::SendStatus::kSent) return on_client_send_failed(peer.front());
    if (!failing_clients_.empty()) failing_clients_.erase(peer.front());
  }
  void note_client_heard(const wire::RoutingIds& peer) {
    if (failing_clients_.empty() || peer.empty()) return;
    if (auto it = failing_clients_.find(peer.front()); it != failing_clients_.end()) {
      it->second.last_heard_ns = clock_.now_ns();
    }
  }
  void on_client_send_failed(const std::string& client);
  void check_client_timeouts();

  // recovery.cpp: the live jobs of a previous broker and their token logs, read back from
  // Redis at start on the StoreReader.
  void recover();
  void on_recovery_read(RecoveryRead& read);
  void recover_jobs(std::vector<store::StoredJob> jobs);
  void restore_tokens(const std::vector<JobId>& ids, std::vector<store::TokenPrefix>& logs,
                      size_t round_trips);
  void start_recovered();
  void on_adopted(const Action& action);

  // registry_poll.cpp: the model registry's routing, polled by epoch on the StoreReader.
  void poll_registry();
  Status read_registry_now();  // bind(): once, before the loop runs
  void apply_registry_read(RegistryRead& read);

  // outbox.cpp: replies are posted during a turn and sent after its commit.
  // (Templates: encoding the concrete type spares a copy into a schemas::Message.)
  template <typename T>
  void post_client(const wire::RoutingIds& peer, const T& message) {
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
  void post_client_frames(const wire::RoutingIds& peer, schemas::Frames frames);
  // dispatch_job: set for a DISPATCH (withdrawable; failing to send it drops the worker).
  void post_worker_frames(const std::string& worker, schemas::Frames frames,
                          const std::string& dispatch_job);
  void send_outbox(TurnBatch& batch);
  void send_to_client(Outgoing& out);
  // While Redis fails, accepted jobs stream from memory: the TOKENS of held turns go out
  // now (in turn order), except to a subscriber whose replay is still waiting for Redis.
  void release_tokens(TurnBatch& batch);
  // The same for every held turn not released yet, in order, up to the first one that is
  // not releasable (its writes are not in the journal).
  void release_held_tokens();
  bool replaying_journal() const { return applied_seq_ < journal_replay_seq_; }
  // A job's TOKENS or DONE to a client: its queue being full makes the client `lagged` for
  // the job. A DONE names the seq after the job's last token (next_seq).
  void post_stream(const wire::RoutingIds& peer, const JobId& job, const schemas::TokenBatch& batch) {
    if (batch.entries.empty()) return;
    post_stream_frames(peer, job, schemas::make_frames(batch), batch.entries.front().seq, true);
  }
  void post_stream(const wire::RoutingIds& peer, const JobId& job, const schemas::Done& done,
                   uint64_t next_seq) {
    post_stream_frames(peer, job, schemas::make_frames(done), next_seq);
  }
  void post_stream_frames(const wire::RoutingIds& peer, const JobId& job, schemas::Frames frames,
                          uint64_t first_seq, bool tokens = false);
  void on_client_lagged(const wire::RoutingIds& peer, const JobId& job, uint64_t next_seq);
  void send_lag_notices();
  // Replies that depend on no write (PONG, refusals while Redis fails): sent at once.
  void send_client_now(const wire::RoutingIds& peer, const schemas::Message& message);
  void hold_reply(const wire::RoutingIds& peer, schemas::Frames frames);
  bool send_worker_now(const std::string& worker, const schemas::Message& message);
  void forget_worker_route(const std::string& worker);

  // commit.cpp: the turn's writes to the StoreWriter; answers and admissions once applied.
  void commit();
  void check_write_replies(TurnBatch& batch, const std::vector<store::RedisReply>& replies);
  void answer_creates(TurnBatch& batch, const std::vector<store::RedisReply>* replies);
  void answer_create(TurnBatch& batch, PendingCreate& pc,
                     const Result<store::CreateResult>& r, bool dup_in_turn);
  bool withdraw(const JobId& job);
  // batch / item_id: a job from the ingest stream that belongs to a batch.
  void admit(wire::RoutingIds peer, schemas::SubmitRequest request, schemas::JobRecord record,
             std::string batch = {}, std::string item_id = {});

  // store_events.cpp: the StoreWriter's answers; reads that wait for staged writes.
  void drain_store();
  void on_store_applied(StoreEvent& event);
  void on_store_failing(const StoreEvent& event);
  void refuse_held_creates(const Status& why);
  // The Dispatcher's pause follows held_commands_ against max_held_writes.
  void update_dispatch_pause();
  // Whether Redis keeps up (no failing write, none waiting longer than kReadGateMs): the
  // StoreReader's polls and recovery start only then.
  bool store_ok() const;
  // The batch number the writes staged so far will be applied in (0: none pending).
  uint64_t pending_seq() const;
  void defer_read(DeferredRead read);
  void stage_read(DeferredRead read);
  void answer_reads(TurnBatch& held, const std::vector<store::RedisReply>& replies, bool live);
  void answer_read(const DeferredRead& read, const std::vector<const store::RedisReply*>& replies);
  void run_deferred(uint64_t applied_seq);
  void send_pong(const DeferredRead& ping);

  // client_handler.cpp
  void on_client_frames(const wire::RoutingIds& peer, const schemas::Frames& frames);
  void on_submit(const wire::RoutingIds& peer, schemas::SubmitRequest request);
  Status precheck_submit(const schemas::SubmitRequest& request) const;
  bool reject_bad_submit(const wire::RoutingIds& peer, const schemas::Frames& frames,
                         const Status& error);
  void reject_submit(const wire::RoutingIds& peer, uint64_t request_id, const Status& s);
  void on_cancel(const wire::RoutingIds& peer, const schemas::CancelRequest& request);
  void on_status(const wire::RoutingIds& peer, const schemas::StatusRequest& request);
  void on_ping(const wire::RoutingIds& peer, const schemas::Ping& ping);
  void on_workers(const wire::RoutingIds& peer, const schemas::WorkersRequest& request);
  schemas::DeviceStatus device_status(const DeviceKey& key, const DeviceState& dev) const;
  std::string new_job_id();
  uint64_t new_seed();  // a job's sampling seed when SUBMIT gives none (never 0)
  // A new job's record: a fresh id, the model name, and what SUBMIT carries for it.
  schemas::JobRecord new_record(const schemas::SubmitRequest& request);

  // subscriptions.cpp
  void on_subscribe(const wire::RoutingIds& peer, const schemas::SubscribeRequest& request);
  // The seq after the last one replayed (from_seq if none).
  uint64_t post_replay(const wire::RoutingIds& peer, const std::string& job_id,
                       std::vector<schemas::TokenEntry>& entries, uint64_t from_seq,
                       uint64_t until_seq);
  void subscribe_ended(const DeferredRead& read, const store::RedisReply& record,
                       const store::RedisReply& log);
  void status_ended(const DeferredRead& read, const store::RedisReply& record);
  void accept_tokens(std::vector<schemas::TokenEntry>& entries);
  void stage_token_appends(const std::vector<schemas::TokenEntry>& entries);
  void forward_tokens(const std::vector<schemas::TokenEntry>& entries);

  // worker_handler.cpp
  void on_worker_frames(const wire::RoutingIds& peer, const schemas::Frames& frames);
  void on_ready(const wire::RoutingIds& peer, const schemas::WorkerReady& ready);
  void on_heartbeat(const std::string& worker, const schemas::WorkerHeartbeat& beat);
  void on_tokens(const std::string& worker, schemas::WorkerTokens& tokens);
  void on_done(const std::string& worker, const schemas::WorkerDone& done);
  void on_failed(const std::string& worker, const schemas::WorkerFailed& failed);
  void on_worker_disconnect(const wire::RoutingIds& peer, const std::string& worker,
                            const std::string& reason);
  JobEntry* current_entry(const std::string& worker, const schemas::TokenEntry& e);
  std::string worker_of(const wire::RoutingIds& peer) const;

  // ingest.cpp: the ingest stream and batch results.
  void init_ingest();
  void poll_ingest();
  void start_ingest_read(size_t room);  // on the StoreReader
  void on_ingest_read(IngestRead& read);
  void ingest_entries(std::vector<store::IngestEntry> entries);
  bool ingest_entry(store::IngestEntry& entry);
  size_t ingest_room() const;
  void answer_ingest(PendingCreate& pc, const Result<store::CreateResult>& r, bool dup_in_turn);
  void finish_batch_job(const JobId& id, const LiveJob& job);
  int64_t next_ingest_wake_ns() const;

  // action_executor.cpp
  void execute(const Actions& actions);
  void execute_dispatch(const Action& action);
  void execute_requeued(const Action& action);
  // worker_done: the worker's WORKER_DONE (usage, finish_reason); nullptr when the broker
  // ends the job itself.
  void end_job(const JobId& job, schemas::JobState state, schemas::ErrorCode code,
               const std::string& error, const schemas::WorkerDone* worker_done);
  schemas::Usage finish_usage(const LiveJob& job, const schemas::Usage* worker_usage) const;
  void write_transition(const JobId& job, const store::Transition& t);

  zmq::context_t& context_;
  BrokerOptions options_;
  const rs::Clock& clock_;
  std::unique_ptr<store::RedisConnection> redis_;
  std::unique_ptr<store::JobStore> jobs_store_;
  std::unique_ptr<store::TokenLog> token_log_;
  std::unique_ptr<store::ModelRegistry> registry_;
  store::ModelRegistryOptions registry_options_;
  store::IngestOptions ingest_options_;
  std::unique_ptr<store::IngestStream> ingest_;
  std::unique_ptr<store::BatchResults> batch_results_;
  JobTable jobs_;  // every live job: the Dispatcher's part and the loop's (JobStream)
  Dispatcher dispatcher_;
  zmq::socket_t clients_;
  zmq::socket_t workers_;
  std::string client_endpoint_;
  std::string worker_endpoint_;
  std::unordered_map<std::string, wire::RoutingIds> worker_routes_;  // worker id -> peer
  std::map<std::string, std::string> peer_workers_;                 // peer id -> worker id
  wire::PeerMonitor worker_monitor_;
  wire::PeerMonitor client_monitor_;
  std::unordered_map<int, std::string> worker_fds_;  // connection fd -> worker id (from READY)
  std::unordered_map<int, std::string> client_fds_;  // connection fd -> client routing id
  int recv_fd_ = -1;  // the connection of the message being handled
  std::unordered_map<std::string, int> client_fd_of_;  // client routing id -> its latest fd
  std::vector<int> dropped_worker_fds_;  // connections gone, handled once their messages are read
  std::vector<int> dropped_client_fds_;
  // A descriptor reused by a new connection before the old one's drop event was read: that
  // event (still to come) is the old connection's, already handled; skip it.
  std::unordered_map<int, int> stale_worker_drops_;
  std::unordered_map<int, int> stale_client_drops_;
  std::unordered_map<std::string, FailingClient> failing_clients_;  // by client routing id
  std::vector<std::string> timed_out_clients_;  // found by on_client_send_failed, not handled yet
  int64_t next_failing_sweep_ns_ = 0;
  ClientStreams streams_;  // what of each (client, job) stream may still go out
  std::unique_ptr<TurnBatch> batch_;  // this turn's Redis writes and replies, not yet done
  std::unique_ptr<StoreWriter> writer_;
  std::unique_ptr<StoreReader> reader_;  // registry and ingest reads, off the loop
  std::unique_ptr<std::deque<HeldTurn>> held_;  // turns whose writes are not applied yet
  std::vector<DeferredRead> deferred_;          // reads waiting for a batch to be applied
  size_t held_commands_ = 0;
  uint64_t applied_seq_ = 0;    // the last batch the writer applied
  // Batches 1..journal_replay_seq_ are a previous broker's journal, re-applied at start:
  // recovery (and, while Redis answers, every message) waits for them.
  uint64_t journal_replay_seq_ = 0;
  uint64_t released_seq_ = 0;  // the last held turn whose TOKENS went out from memory
  bool store_failing_ = false;  // a batch failed and is being retried
  std::unordered_map<std::string, std::map<int32_t, DeviceHeartbeat>> loads_;  // by worker
  int64_t next_beat_ns_ = 0;
  int64_t next_registry_poll_ns_ = 0;
  std::optional<uint64_t> registry_epoch_;  // last epoch read; nullopt: never read
  bool registry_failing_ = false;           // the last poll failed (logged once per outage)
  bool registry_reading_ = false;           // a registry read is on the StoreReader
  // Ingest (ingest.cpp).
  int64_t next_ingest_ns_ = 0;
  int64_t next_claim_ns_ = 0;
  int64_t ingest_grace_end_ns_ = 0;  // until then, unknown models wait (workers re-register)
  bool ingest_group_ready_ = false;
  bool ingest_reading_ = false;  // an ingest read is on the StoreReader
  bool ingest_failing_ = false;             // logged once per outage
  std::string own_pending_cursor_ = "0";    // our consumer's entries from a previous life
  bool own_pending_done_ = false;
  std::vector<store::IngestEntry> ingest_deferred_;  // unknown model during the grace
  bool recovered_ = false;        // the live jobs of Redis are known to the Dispatcher
  bool recovery_failing_ = false;  // logged once per outage
  bool recovery_reading_ = false;  // the recovery read is on the StoreReader
  std::vector<RecoveredJob> recovered_jobs_;  // read, not yet handed to the Dispatcher
  int64_t next_recovery_ns_ = 0;
  uint64_t id_prefix_ = 0;
  uint64_t id_counter_ = 0;
  uint64_t seed_counter_ = 0;
  std::atomic<bool> stop_{false};
  BrokerCounters counters_;
};

}  // namespace rs::broker
