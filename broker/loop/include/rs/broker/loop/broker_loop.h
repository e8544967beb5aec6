// BrokerLoop: the broker's one thread and one poll loop: the thin shell around BrokerState.
// Owns the client and worker ROUTER sockets (and their connection monitors), the
// StoreWriter (the thread that applies the state's write batches and the reads that follow
// them, in order, retried until applied) and the StoreReader (registry, ingest and
// recovery reads). Each turn it feeds the state what arrived (store events, reader
// results, dropped connections, messages) and carries out its effects as BrokerPorts:
// sends on the sockets, typed writes and reads turned into Redis commands (StoreCommands)
// and their replies back into typed results (docs/BROKER.md, "The loop").
// Constructed, bound and run on one thread; only request_stop() and the counters may be
// called from another thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "rs/broker/broker_counters.h"
#include "rs/broker/broker_state.h"
#include "rs/core/clock.h"
#include "rs/core/result.h"
#include "rs/store/redis_connection.h"
#include "rs/wire/peer_framing.h"
#include "rs/wire/peer_monitor.h"
#include "rs/wire/socket.h"

namespace rs::broker {

// The state's options (rs/broker/broker_state.h) and the shell's.
struct BrokerOptions : BrokerStateOptions {
  std::string client_endpoint = "tcp://127.0.0.1:*";
  std::string worker_endpoint = "tcp://127.0.0.1:*";
  store::RedisOptions redis;
  std::string key_prefix = "rs:";
  // ZMQ_MAXMSGSIZE of both ROUTERs: a frame above it makes ZeroMQ drop the connection
  // (no reply possible). 0 = 2 x limits.max_frame_bytes + 64 KiB. Frames between
  // max_frame_bytes and this cap are read, dropped and answered `too_large`.
  int64_t socket_max_msg_bytes = 0;
  int max_messages_per_turn = 1024;  // per socket, per loop turn
  // This broker's consumer name in the ingest stream's group "brokers".
  std::string broker_id = "broker";
  // Redis outages (docs/BROKER.md "When Redis fails"): a write batch not applied within
  // store_timeout_ms is retried (never dropped) and new SUBMITs get `unavailable` until
  // every held write is applied. The StoreReader's reads (registry and ingest polls,
  // recovery) are each bounded by read_timeout_ms and start only while the writer keeps up.
  int store_timeout_ms = 1000;
  int read_timeout_ms = 250;
  // --journal: a local file where the write batches held while Redis fails are appended
  // (emptied once they are applied), so a broker killed meanwhile re-applies them at its
  // next start, before recovery; TOKENS go out from memory only once their writes are in
  // it. "" = no journal (held writes are in memory only).
  std::string journal_path;
  // CURVE (docs/SECURITY.md): the broker's key file (with its secret key) and the two
  // allow-lists, re-read when they change (checked every allow_list_poll_ms) or at once
  // on request_reload() (SIGHUP). "" = insecure: plain ZeroMQ, loopback endpoints only.
  std::string curve_key_path;
  std::string allow_workers_path;
  std::string allow_clients_path;
  int allow_list_poll_ms = 250;
};

class StoreWriter;
class StoreReader;
class StoreCommands;
struct StoreLayout;
struct StoreEvent;

class BrokerLoop : private BrokerPorts {
 public:
  BrokerLoop(zmq::context_t& context, BrokerOptions options,
             const rs::Clock& clock = rs::SteadyClock::instance());
  ~BrokerLoop() override;
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
  // Any thread (a signal handler too): the allow-lists are re-read at the next turn.
  void request_reload() { reload_.store(true, std::memory_order_relaxed); }
  bool secure() const { return !options_.curve_key_path.empty(); }

  const BrokerCounters& counters() const { return state_->counters(); }
  // The Prometheus metrics (any thread may render them or read readiness()).
  BrokerMetrics& metrics() { return state_->metrics(); }

 private:
  // BrokerPorts: the state's effects.
  SendResult send_client(const RoutingIds& peer, const schemas::Frames& frames) override;
  SendResult send_worker(const RoutingIds& route, const schemas::Frames& frames) override;
  Submitted submit(StoreBatch batch) override;
  void read(ReaderTask task) override;  // reader_tasks.cpp

  // Both return false when they stopped at max_messages_per_turn (more may wait).
  bool drain_clients();
  bool drain_workers();
  void drain_store();
  void on_store_event(StoreEvent& event);
  Status read_registry_now();  // bind(): once, before the loop runs (reader_tasks.cpp)

  // peers.cpp: the sockets' connection monitors; closed connections go to the state.
  void start_monitors();
  void drain_monitors();

  // access_control.cpp: CURVE, the ZAP handler and the allow-lists (docs/SECURITY.md).
  Status start_access(wire::RouterOptions& workers, wire::RouterOptions& clients);
  void serve_zap();
  Status reload_allow_lists(bool at_start);
  void maybe_reload();
  // The key behind a message (nullptr: refused and counted; insecure: never called).
  const AllowedKey* identify(const char* domain, int fd, const std::string& user_id);

  zmq::context_t& context_;
  BrokerOptions options_;
  const rs::Clock& clock_;
  std::unique_ptr<store::RedisConnection> redis_;  // bind()'s registry read; command builders
  std::unique_ptr<StoreCommands> commands_;
  std::unique_ptr<BrokerState> state_;
  zmq::socket_t clients_;
  zmq::socket_t workers_;
  std::string client_endpoint_;
  std::string worker_endpoint_;
  wire::PeerMonitor worker_monitor_;
  wire::PeerMonitor client_monitor_;
  std::unique_ptr<StoreWriter> writer_;
  std::unique_ptr<StoreReader> reader_;  // registry, ingest and recovery reads, off the loop
  // The submitted batches not applied yet, oldest first: how to read their replies.
  std::deque<std::unique_ptr<StoreLayout>> layouts_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  AccessList access_;
  zmq::socket_t zap_;  // the ZAP handler's REP socket (CURVE only)
  struct AllowFile {
    std::string path;
    const char* domain;
    int64_t mtime_ns = -1;
  };
  std::vector<AllowFile> allow_files_;
  int64_t next_allow_check_ns_ = 0;
  std::unordered_map<int, std::string> client_fd_keys_;  // a client connection's User-Id
  // Peers that send the packed form are answered in it (docs/PROTOCOL.md "Packed form").
  wire::PeerFraming client_framing_;
  wire::PeerFraming worker_framing_;
};

}  // namespace rs::broker
