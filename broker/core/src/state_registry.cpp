// BrokerState: the model registry, polled by epoch. Every registry_poll_ms the StoreReader
// reads rs:models:epoch on its own thread; when it moved (or was never read) it re-reads
// every name's versions and active / canary version, and the loop hands them to the
// Dispatcher when the read is done (the loop never waits on it). A failed read (Redis down)
// is logged once per outage and retried at the next poll; the loop goes on with what it
// knew, and re-reads everything once Redis answers again. bind() reads once, synchronously,
// so the registry is known before the first SUBMIT.
#include <spdlog/spdlog.h>

#include <memory>
#include <utility>
#include <vector>

#include "rs/broker/broker_state.h"

namespace rs::broker {

void BrokerState::poll_registry() {
  const int64_t now = clock_.now_ns();
  if (now < next_registry_poll_ns_ || registry_reading_) return;
  next_registry_poll_ns_ = now + std::max<int64_t>(1, options_.registry_poll_ms) * 1'000'000;
  registry_reading_ = true;
  ports_.read(ReadRegistry{.known_epoch = registry_epoch_});
}

void BrokerState::on_registry_read(RegistryRead read) {
  registry_reading_ = false;
  counters_.redis_round_trips.fetch_add(read.round_trips, std::memory_order_relaxed);
  if (!read.status.ok()) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    // Redis may come back empty (restarted) with an epoch that happens to equal the one
    // cached: re-read whatever the epoch is once it answers again.
    registry_epoch_.reset();
    if (!registry_failing_) {
      spdlog::warn("broker: model registry poll failed (retrying every {} ms): {}",
                   options_.registry_poll_ms, read.status.to_string());
    }
    registry_failing_ = true;
    return;
  }
  if (registry_failing_) spdlog::info("broker: model registry readable again");
  registry_failing_ = false;
  if (!read.changed) return;
  registry_epoch_ = read.epoch;
  counters_.registry_reads.fetch_add(1, std::memory_order_relaxed);
  counters_.registry_epoch.store(read.epoch, std::memory_order_relaxed);
  spdlog::debug("broker: model registry epoch {}: {} name(s)", read.epoch, read.models.size());
  execute(dispatcher_.on_registry(std::move(read.models)));
}

}  // namespace rs::broker
