// StoreWriter: the broker's Redis writes on their own thread, so the poll loop never waits
// on Redis. The loop hands over each turn's pipeline (a numbered batch); the writer thread
// owns its own RedisConnection and applies the batches strictly in order, retrying a batch
// that failed (with backoff, reconnecting) until Redis answers: a staged write is never
// dropped. Every batch must therefore be idempotent when applied again (token entries by
// seq, HSETs re-applied in order). Results come back through an inproc socket the loop
// polls. With a journal (journal_path), the batches held while Redis fails are also
// appended to a local file, emptied once they are all applied, and re-applied first at the
// next start (WriteJournal). submit() / next_event() / socket() / open_journal(): the loop
// thread only; the rest is internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "rs/broker/loop/write_journal.h"
#include "rs/core/status.h"
#include "rs/metrics/metrics.h"
#include "rs/store/redis_connection.h"

namespace rs::broker {

// What the writer tells the loop: a batch applied (with its replies), or a batch that
// failed and is being retried (reported once per failing stretch, with the reason).
struct StoreEvent {
  enum class Kind : uint8_t { kApplied, kFailing };
  Kind kind = Kind::kApplied;
  uint64_t seq = 0;
  std::vector<store::RedisReply> replies;  // kApplied: one per command, in order
  // kApplied: the batch's commands, freed by the loop that allocated them (a free from
  // another thread takes the allocating arena's lock: ~15% of the writer's time).
  std::vector<store::RedisCommand> spent;
  Status error;                            // kFailing: why the batch could not be applied
  int attempts = 1;                        // kApplied: 1 = first try
  // kFailing: every batch up to this one is in the journal (UINT64_MAX: no journal).
  uint64_t journaled_seq = 0;
};

struct StoreWriterOptions {
  store::RedisOptions redis;
  int retry_min_ms = 20;   // first wait after a failed batch
  int retry_max_ms = 500;  // the wait doubles up to this
  // A batch whose replies do not come within the command timeout is reported failing and
  // then awaited on the same connection for up to this long in all (Redis stalled, e.g.
  // SIGSTOP or a long fork): it is sent again on a new connection only if its connection
  // breaks or this runs out, so a stalled Redis never runs an old copy after newer writes.
  int64_t stall_patience_ms = 300'000;
  std::string journal_path;  // "" = no journal
  // Each pipeline's round trip, in seconds, observed on the writer's thread (optional).
  metrics::Histogram* pipeline_seconds = nullptr;
};

class StoreWriter {
 public:
  StoreWriter(zmq::context_t& context, StoreWriterOptions options);
  ~StoreWriter();  // stops the thread (batches not yet applied are abandoned)
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Starts the thread; the loop polls socket() for events.
  Status start();
  // After start(), before any submit(): opens the journal and queues the batches a previous
  // broker left in it as the first batches (1, 2, ...; kept in the journal until applied).
  // Returns each one's command count. No journal: nothing.
  Result<std::vector<size_t>> open_journal();
  // Queues a batch; returns its sequence number (1, 2, ...). Never blocks beyond one
  // write(2) to the journal while batches are held. releasable: whether the batch may be
  // acted on before it is applied (journal off, or the batch is journaled).
  uint64_t submit(std::vector<store::RedisCommand> commands, bool* releasable = nullptr);
  // The next event, if one is ready (never blocks).
  std::optional<StoreEvent> next_event();
  zmq::socket_t& socket() { return loop_side_; }
  uint64_t last_submitted() const { return next_seq_ - 1; }
  // The writer thread's CPU time so far (updated after each batch; any thread).
  uint64_t cpu_ns() const { return cpu_ns_.load(std::memory_order_relaxed); }

 private:
  struct Batch {
    uint64_t seq = 0;
    std::vector<store::RedisCommand> commands;
  };
  void run_on(zmq::socket_t& socket);
  // Applies one batch, retrying until it is applied or the writer stops; false if stopped.
  bool apply(zmq::socket_t& out, store::RedisConnection& redis, Batch& batch);
  bool wait_ms(int ms);  // false if stopped meanwhile
  // Writer thread, at a batch's first failure: it and every batch queued behind it go to
  // the journal (taken off the socket into taken_), and later submits append themselves.
  void journal_held(zmq::socket_t& socket, const Batch& failing);
  // Writer thread, after a batch is applied: the journal is emptied once every batch in it is.
  void journal_applied(uint64_t seq);
  bool journal_locked(const Batch& batch);  // journal_mu_ held; false if the append failed

  zmq::context_t& context_;
  StoreWriterOptions options_;
  std::string endpoint_;
  zmq::socket_t loop_side_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> cpu_ns_{0};
  std::atomic<uint64_t> to_writer_{0};  // hand-overs (see send_owned in the .cpp)
  std::atomic<uint64_t> to_loop_{0};
  uint64_t next_seq_ = 1;
  // The journal (journal_path set). journal_mu_ guards it and the fields up to submitted_.
  std::unique_ptr<WriteJournal> journal_;
  std::mutex journal_mu_;
  bool journaling_ = false;      // batches are held: every submit is journaled
  bool journal_broken_ = false;  // an append failed: nothing more until it is emptied
  uint64_t last_journaled_ = 0;
  uint64_t submitted_ = 0;  // the last batch handed to the writer (with a journal)
  std::deque<std::unique_ptr<Batch>> taken_;  // writer thread: queued batches, journaled
  bool stop_taken_ = false;                   // writer thread: the stop sentinel was taken
};

}  // namespace rs::broker
