// WorkerLoop: the worker's I/O thread. Owns the DEALER socket to the broker, one DeviceHost
// per device (each its own engine thread) sharing one Model (file mode) or the registry's
// models through a ModelManager (registry mode: watcher and loader threads), their inproc
// wake-up pairs, the shared outbox and the table of jobs in flight. Constructed and
// start()ed on one thread, then run() on that thread or on another (handed over once, across
// a thread start); only request_stop(), request_drain() (also from a signal handler),
// draining(), counters(), healthy(), registered(), device_load() and advertised_keys() may
// be called from other threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "rs/core/clock.h"
#include "rs/core/result.h"
#include "rs/engine/model.h"
#include "rs/schemas/frames.h"
#include "rs/wire/heartbeat.h"
#include "rs/wire/link_monitor.h"
#include "rs/wire/wakeup.h"
#include "rs/metrics/metrics_server.h"
#include "rs/wire/curve.h"
#include "rs/worker/device_host.h"
#include "rs/worker/worker_metrics.h"
#include "rs/worker/models/model_manager.h"

namespace rs::worker::io {

struct WorkerOptions {
  std::string broker_endpoint;       // the broker's worker endpoint (required)
  std::string worker_id;             // the DEALER routing id, stable across reconnects (required)
  std::string model_name;            // file mode: the model key advertised (required)
  int devices = 1;                   // DeviceHosts, each its own engine thread
  int threads_per_device = 1;        // matmul threads of each engine
  int max_batch_size = 16;
  int max_batch_tokens = 512;
  int batch_timeout_ms = 0;
  int kv_blocks = 0;                 // 0: the engine's default
  engine::KvCacheType kv_cache_type = engine::KvCacheType::kF16;
  int64_t heartbeat_ms = 1000;       // should match the broker's --heartbeat-ms
  int missed_beats = 3;              // broker silent this many intervals -> reconnect;
                                     // an engine this stale -> the worker falls silent
  wire::BackoffOptions backoff;      // delay before recreating the socket after a silence
  int shutdown_linger_ms = 500;      // how long WORKER_DISCONNECT may take to leave on exit
  int64_t grace_ms = 30000;          // drain: how long running jobs may take to finish
                                     // after request_drain() before they are handed back
  schemas::Limits limits;
  // CURVE (docs/SECURITY.md): this worker's key pair and the broker's public key; empty:
  // plain. With CURVE the worker id is its key's name, and each connection has a routing
  // id of its own ("<id>.<random>"), so no peer can take over another's pipe.
  wire::CurveClientKeys curve;
  // Fault injection (tests, chaos drills): jobs whose prompt contains one of these fail on
  // the device with an engine error (DeviceHostConfig::fail_on_prompt; WORKER_FAILED internal).
  std::vector<std::string> fail_on_prompt;
  // File mode: how long the model took to load (reported as its load duration).
  double model_load_seconds = 0;
  // Test hook: runs on device `d`'s engine thread right before each engine step.
  std::function<void(int d)> before_step;
  // Registry mode (the constructor without a model): where the models come from. The wake
  // functions are the loop's own (left empty here).
  std::optional<models::ModelManagerOptions> registry;
  // I/O thread, after each READY sent: the model keys it advertised.
  std::function<void(const std::vector<std::string>& keys)> on_ready;
};

// Counters readable from any thread (relaxed atomics).
struct WorkerCounters {
  std::atomic<uint64_t> ready_sent{0};
  std::atomic<uint64_t> registrations{0};     // READY acknowledged by the broker
  std::atomic<uint64_t> reconnects{0};        // sockets torn down after a broker silence
  std::atomic<uint64_t> heartbeats_sent{0};
  std::atomic<uint64_t> broker_disconnects{0};
  std::atomic<uint64_t> dispatches{0};        // DISPATCH handed to a DeviceHost
  std::atomic<uint64_t> dispatches_refused{0};// DISPATCH answered WORKER_FAILED at once
  std::atomic<uint64_t> handed_back{0};       // drain: jobs cancelled at the grace deadline,
                                              // to go back as WORKER_FAILED draining
  std::atomic<uint64_t> model_changes{0};     // advertised model keys changed (registry mode)
  std::atomic<uint64_t> models_held{0};       // registry mode: models the worker references now
  std::atomic<uint64_t> cancels_applied{0};   // CANCEL_JOB handed to a DeviceHost
  std::atomic<uint64_t> cancels_ignored{0};   // CANCEL_JOB for no job / another attempt
  std::atomic<uint64_t> jobs_held{0};         // jobs listed in a READY (kept for adoption)
  std::atomic<uint64_t> tokens_resent{0};     // tokens sent again after a READY
  std::atomic<uint64_t> token_messages{0};    // WORKER_TOKENS sent
  std::atomic<uint64_t> tokens_sent{0};
  std::atomic<uint64_t> done_sent{0};
  std::atomic<uint64_t> failed_sent{0};
  std::atomic<uint64_t> stale_outputs{0};     // engine output of a job no longer in flight
  std::atomic<uint64_t> bad_messages{0};      // undecodable or misdirected broker messages
  std::atomic<uint64_t> send_failures{0};
};

class WorkerLoop {
 public:
  // File mode: every device serves `model` under options.model_name.
  WorkerLoop(zmq::context_t& context, std::shared_ptr<const engine::Model> model,
             WorkerOptions options, const rs::Clock& clock = rs::SteadyClock::instance());
  // Registry mode: options.registry says where the models come from. The first READY goes
  // out once the registry was read and its versions loaded (or failed).
  WorkerLoop(zmq::context_t& context, WorkerOptions options,
             const rs::Clock& clock = rs::SteadyClock::instance());
  ~WorkerLoop();  // shutdown() if still needed
  WorkerLoop(const WorkerLoop&) = delete;
  WorkerLoop& operator=(const WorkerLoop&) = delete;

  // Starts the DeviceHosts (engine errors come back here), makes the wake-up pairs and the
  // socket, and sends the first READY (registry mode: starts the watcher and the loader;
  // the socket and READY wait for the first models). Call once, before run().
  Status start();
  // Runs until request_stop(), then shutdown(). Returns the reason it stopped (ok on request).
  Status run();
  // One loop turn with a poll of at most max_wait_ms (tests, custom drivers).
  Status run_once(long max_wait_ms);
  // Sends WORKER_DISCONNECT, stops the DeviceHosts (their jobs are cancelled) and closes
  // the sockets. Idempotent; the loop's thread only.
  void shutdown(const std::string& reason = "shutting down");
  // Any thread: run() returns within ~50 ms (running jobs are cancelled).
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }
  // Any thread, async-signal-safe (SIGTERM / SIGINT). The first call starts a drain: the
  // worker advertises no models at once (a heartbeat with an empty list), answers any
  // DISPATCH with WORKER_FAILED draining, lets running jobs finish within grace_ms, then
  // cancels the rest and hands each back (WORKER_FAILED draining); then run() sends
  // WORKER_DISCONNECT and returns ok. A second call ends the grace at once.
  void request_drain() { drain_requests_.fetch_add(1, std::memory_order_relaxed); }
  // Any thread: a drain has started (the loop's thread saw request_drain()).
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  const WorkerCounters& counters() const { return counters_; }
  const std::string& worker_id() const { return options_.worker_id; }
  const std::string& model_name() const { return options_.model_name; }
  int n_devices() const { return options_.devices; }
  // Any thread: every engine thread beat within missed_beats intervals (else silent).
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  // Any thread: the broker acknowledged our latest READY.
  bool registered() const { return registered_.load(std::memory_order_acquire); }
  // Any thread, after start() (the DeviceHosts live as long as the loop): a device's load
  // as its engine thread last published it (all zero once shut down).
  DeviceLoad device_load(int device) const;
  // Any thread: the model keys advertised now (every device has the same).
  std::vector<std::string> advertised_keys() const;
  // The Prometheus metrics (any thread may render them).
  WorkerMetrics& metrics() { return *metrics_; }
  // Any thread: ready when every engine thread beats, a model is loaded and the broker
  // acknowledged the READY; else engine_stalled, no_model or broker_unlinked.
  metrics::Readiness readiness() const;

 private:
  enum class State { kDisconnected, kAwaitingAck, kRegistered };
  // A job on a device, and for a while after its end. Its tokens are kept, so that after
  // a READY (a restarted broker adopting it) they can be sent again; `final` is its
  // WORKER_DONE / WORKER_FAILED, kept while no broker could take it, and for a few heartbeat
  // intervals after it was sent (a broker killed before reading it adopts it instead of
  // running the job again).
  struct InFlight {
    int device = 0;
    uint32_t attempt = 0;
    uint64_t n_resumed = 0;  // tokens the log held at dispatch: this attempt's seqs start here
    std::vector<schemas::TokenEntry> tokens;
    std::optional<schemas::Message> final;
    int64_t final_sent_ns = 0;  // 0: not sent
    bool cancel_requested = false;  // the broker sent CANCEL_JOB for this attempt
    bool handed_back = false;       // drain: cancelled at the grace deadline
  };
  enum class DrainPhase {
    kNone,
    kGrace,        // no new jobs; running ones finish until drain_deadline_ns_
    kHandingBack,  // the rest were cancelled; their ends are awaited until hand_back_ns_
    kOver,         // done waiting: run() stops
  };

  // worker_loop.cpp: lifecycle, the loop, engine health.
  Status check_options() const;
  Status start_hosts();
  Status start_registry();
  long poll_timeout_ms() const;
  void update_health();
  void set_state(State state);

  // connection.cpp: the socket, READY, heartbeats, liveness and reconnects.
  void connect_and_ready();
  void teardown(const char* why);
  void send_ready();
  void send_heartbeat();
  void maintain_connection();
  bool send(const schemas::Message& message);
  void drain_broker();
  void watch_link();

  // dispatch.cpp: DISPATCH, CANCEL_JOB, BROKER_DISCONNECT and the jobs in flight.
  void on_broker_message(schemas::Message& message);
  void on_dispatch(schemas::Dispatch& dispatch);
  void on_cancel(const schemas::CancelJob& cancel);
  bool serves(const std::string& key) const;
  std::vector<std::string> model_keys() const;  // I/O thread
  std::vector<std::string> no_chat() const;     // I/O thread: "key: reason" per model without chat
  void turn_models();
  void on_broker_disconnect(const schemas::BrokerDisconnect& disconnect);
  void refuse(const schemas::Dispatch& dispatch, schemas::ErrorCode code, std::string message);
  std::vector<schemas::ReadyJob> held_jobs() const;
  void resend_held_jobs();
  void resend_tokens(const std::vector<schemas::TokenEntry>& tokens);
  void forget_old_finals();

  // drain.cpp: SIGTERM -> no new jobs, a grace period, the rest handed back, exit.
  void turn_drain();
  void start_drain(int64_t now_ns);
  void hand_back_running(int64_t now_ns);
  void abandon_unconfirmed();
  bool drain_finished() const;
  schemas::WorkerFailed hand_back_failure(const std::string& job_id, const InFlight& job,
                                          int device, const char* why) const;

  // outputs.cpp: engine batches -> WORKER_TOKENS / WORKER_DONE / WORKER_FAILED.
  // A WORKER_TOKENS is cut after about this many bytes (schemas::approx_wire_bytes), far
  // below the 4 MiB frame: a step's prompt logprobs of several jobs may not fit in one.
  static constexpr size_t kTokensMessageBytes = 1u << 20;
  void flush_outbox();
  void send_batch(StepBatch& batch);
  void send_tokens(schemas::WorkerTokens& tokens);
  void send_end(FinishedOut& finished, int device);
  bool is_current(const std::string& job_id, int attempt) const;
  void send_final(const std::string& job_id, schemas::Message final);

  zmq::context_t& context_;
  std::shared_ptr<const engine::Model> model_;
  WorkerOptions options_;
  const rs::Clock& clock_;

  std::shared_ptr<Outbox> outbox_;
  std::unique_ptr<WorkerMetrics> metrics_;  // outlives hosts_ (their engine threads report)
  std::vector<std::unique_ptr<DeviceHost>> hosts_;
  std::vector<wire::WakeupReceiver> wake_receivers_;
  std::vector<DeviceHost*> host_ptrs_;
  std::unique_ptr<models::ModelManager> models_;  // registry mode
  bool models_ready_ = true;  // registry mode: false until the first wanted set settled
  mutable std::mutex keys_mu_;
  std::vector<std::string> advertised_;  // under keys_mu_

  zmq::socket_t socket_;
  bool connected_ = false;
  State state_ = State::kDisconnected;
  bool ready_pending_ = false;  // send READY as soon as the engines are healthy
  bool ready_retrying_ = false;  // the last READY could not be sent (no link yet)
  wire::Heartbeat broker_beat_;
  wire::Backoff backoff_;
  int64_t reconnect_at_ns_ = 0;
  bool started_ = false;
  bool shut_down_ = false;

  std::unordered_map<std::string, InFlight> in_flight_;  // job id -> its current attempt
  wire::LinkMonitor link_monitor_;  // the TCP link to the broker (down: a restart, likely)
  int n_link_monitors_ = 0;
  bool link_lost_ = false;
  int64_t ready_retry_at_ns_ = 0;  // a READY that could not be sent is retried from then  // down since the last READY: READY again when it is back

  DrainPhase drain_phase_ = DrainPhase::kNone;  // I/O thread
  int64_t drain_deadline_ns_ = 0;  // the grace ends
  int64_t hand_back_ns_ = 0;       // the last wait for the engines to confirm the hand-back

  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> drain_requests_{0};
  std::atomic<bool> draining_{false};
  std::atomic<bool> healthy_{true};
  std::atomic<bool> registered_{false};
  WorkerCounters counters_;
};

}  // namespace rs::worker::io
