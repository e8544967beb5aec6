// BrokerCounters: what the broker counts (relaxed atomics): written by the broker loop
// thread (BrokerState and its shell), readable from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "rs/schemas/errors.h"

namespace rs::broker {

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

}  // namespace rs::broker
