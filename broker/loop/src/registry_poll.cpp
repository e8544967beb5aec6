// BrokerLoop: the model registry, polled by epoch. Every registry_poll_ms the loop reads
// rs:models:epoch; when it moved (or was never read) it re-reads every name's versions and
// active / canary version and hands them to the Dispatcher. A failed read (Redis down) is
// logged once per outage and retried at the next poll; the loop goes on with what it knew,
// and re-reads everything once Redis answers again.
#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "rs/broker/loop/broker_loop.h"

namespace rs::broker {

void BrokerLoop::poll_registry() {
  const int64_t now = clock_.now_ns();
  if (now < next_registry_poll_ns_) return;
  next_registry_poll_ns_ = now + std::max<int64_t>(1, options_.registry_poll_ms) * 1'000'000;
  Status s = read_registry();
  if (s.ok()) {
    if (registry_failing_) spdlog::info("broker: model registry readable again");
    registry_failing_ = false;
    return;
  }
  counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
  // Redis may come back empty (restarted) with an epoch that happens to equal the one
  // cached: re-read whatever the epoch is once it answers again.
  registry_epoch_.reset();
  if (!registry_failing_) {
    spdlog::warn("broker: model registry poll failed (retrying every {} ms): {}",
                 options_.registry_poll_ms, s.to_string());
  }
  registry_failing_ = true;
  pause_reads(s);
}

Status BrokerLoop::read_registry() {
  counters_.redis_round_trips.fetch_add(1, std::memory_order_relaxed);
  RS_ASSIGN_OR_RETURN(uint64_t epoch, registry_->epoch());
  if (registry_epoch_ && *registry_epoch_ == epoch) return Status();
  // Every version (not only the routing) so that a pinned SUBMIT of a version nobody has
  // loaded yet is known. A change between the two reads shows as a new epoch next poll.
  RS_ASSIGN_OR_RETURN(std::vector<store::ModelVersion> versions, registry_->list_all());
  std::vector<RegistryModel> models;
  for (const store::ModelVersion& v : versions) {
    if (models.empty() || models.back().name != v.name) models.push_back(RegistryModel{.name = v.name});
    RegistryModel& m = models.back();
    m.versions.push_back(v.version);
    if (v.active) m.active = v.version;
    if (v.canary_percent > 0) {
      m.canary = v.version;
      m.canary_percent = v.canary_percent;
    }
  }
  registry_epoch_ = epoch;
  counters_.registry_reads.fetch_add(1, std::memory_order_relaxed);
  counters_.registry_epoch.store(epoch, std::memory_order_relaxed);
  spdlog::debug("broker: model registry epoch {}: {} name(s)", epoch, models.size());
  execute(dispatcher_.on_registry(std::move(models)));
  return Status();
}

}  // namespace rs::broker
