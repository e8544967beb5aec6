// BrokerLoop: the model registry, polled by epoch. Every registry_poll_ms the StoreReader
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

#include "rs/broker/loop/broker_loop.h"
#include "store_reader.h"

namespace rs::broker {

struct RegistryRead {
  std::optional<uint64_t> known_epoch;  // in: the epoch the loop last read
  Status status;
  uint64_t epoch = 0;
  bool changed = false;  // the epoch moved: `models` holds the whole registry
  std::vector<RegistryModel> models;
};

namespace {

// Every version (not only the routing) so that a pinned SUBMIT of a version nobody has
// loaded yet is known. A change between the two reads shows as a new epoch next poll.
void read_registry_models(store::ModelRegistry& registry, RegistryRead& out) {
  auto epoch = registry.epoch();
  if (!epoch.ok()) {
    out.status = epoch.status();
    return;
  }
  out.epoch = *epoch;
  if (out.known_epoch && *out.known_epoch == out.epoch) return;
  auto versions = registry.list_all();
  if (!versions.ok()) {
    out.status = versions.status();
    return;
  }
  out.changed = true;
  for (const store::ModelVersion& v : *versions) {
    if (out.models.empty() || out.models.back().name != v.name) {
      out.models.push_back(RegistryModel{.name = v.name});
    }
    RegistryModel& m = out.models.back();
    m.versions.push_back(v.version);
    if (v.active) m.active = v.version;
    if (v.canary_percent > 0) {
      m.canary = v.version;
      m.canary_percent = v.canary_percent;
    }
  }
}

}  // namespace

void BrokerLoop::poll_registry() {
  const int64_t now = clock_.now_ns();
  if (now < next_registry_poll_ns_ || registry_reading_) return;
  next_registry_poll_ns_ = now + std::max<int64_t>(1, options_.registry_poll_ms) * 1'000'000;
  auto read = std::make_shared<RegistryRead>(RegistryRead{.known_epoch = registry_epoch_});
  registry_reading_ = true;
  counters_.redis_round_trips.fetch_add(1, std::memory_order_relaxed);
  reader_->submit(
      [read, options = registry_options_](store::RedisConnection& conn) {
        store::ModelRegistry registry(conn, options);
        read_registry_models(registry, *read);
      },
      [this, read] {
        registry_reading_ = false;
        apply_registry_read(*read);
      });
}

Status BrokerLoop::read_registry_now() {
  counters_.redis_round_trips.fetch_add(1, std::memory_order_relaxed);
  RegistryRead read{.known_epoch = registry_epoch_};
  read_registry_models(*registry_, read);
  apply_registry_read(read);
  return read.status;
}

void BrokerLoop::apply_registry_read(RegistryRead& read) {
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
