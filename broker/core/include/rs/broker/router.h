// Router: one HashRing per model plus the bounded-load rule (consistent hashing with
// bounded loads, Mirrokni et al.). Owns the rings only; the load comes from a
// DeviceLoadView (the WorkerTable). Not thread-safe: the broker loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "rs/broker/hash_ring.h"
#include "rs/broker/types.h"

namespace rs::broker {

// Read-only view of per-device load, implemented by WorkerTable.
class DeviceLoadView {
 public:
  virtual ~DeviceLoadView() = default;
  virtual uint32_t in_flight(const DeviceKey& device) const = 0;
  virtual uint32_t free_slots(const DeviceKey& device) const = 0;
};

// The routing key: the affinity key, else the session id, else model + the first
// kRoutePromptBytes bytes of the prompt.
uint64_t routing_key(const RouteRequest& request);

struct RouterOptions {
  double load_factor = 1.25;  // a device takes at most ceil(factor x average) jobs
  int virtual_nodes = kDefaultVirtualNodes;
  // Batch priority: when no device has a free slot, an interactive job may still go to a
  // device with fewer than slots + interactive_reserve jobs in flight that runs fewer
  // interactive jobs than slots (so it holds a batch job its engine preempts to admit this
  // one); batch jobs stay within slots. 0 (the library default): no over-commit; the
  // broker sets it from --interactive-reserve (default 4). Applied by the Dispatcher
  // (dispatcher_models.cpp); route() itself always keeps to the slots.
  uint32_t interactive_reserve = 0;
};

class Router {
 public:
  explicit Router(RouterOptions options = {});

  // Puts device on (takes it off) the model's ring; false if it already is (is not).
  bool add_device(const ModelName& model, const DeviceKey& device);
  bool remove_device(const ModelName& model, const DeviceKey& device);
  // Takes the device off every ring (its worker left).
  void remove_device_everywhere(const DeviceKey& device);

  bool serves(const ModelName& model) const;
  const HashRing* ring(const ModelName& model) const;

  // The bound for the model's devices if one more job arrives:
  // ceil(factor x (total in-flight + 1) / n_devices); 0 if nobody serves the model.
  uint32_t load_bound(const ModelName& model, const DeviceLoadView& load) const;

  // The device for a job with this key: the first device clockwise from the key that
  // has a free slot and is under the bound. nullopt: no capacity now (keep it queued).
  std::optional<DeviceKey> route(const ModelName& model, uint64_t key,
                                 const DeviceLoadView& load) const;

 private:
  RouterOptions options_;
  std::map<ModelName, HashRing> rings_;
};

}  // namespace rs::broker
