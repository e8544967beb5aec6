// Small value types shared by the broker core: job, worker and device identities,
// priorities and the per-job routing inputs. Plain values; any thread may copy them,
// but the broker core classes that hold them belong to the broker loop thread only.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rs/core/priority.h"

namespace rs::broker {

using JobId = std::string;
using WorkerId = std::string;
using ModelName = std::string;
// A ZeroMQ peer's routing frames (a client's identity; a worker's route).
using RoutingIds = std::vector<std::string>;

// One device (engine instance) of one worker.
struct DeviceKey {
  WorkerId worker;
  uint32_t index = 0;

  auto operator<=>(const DeviceKey&) const = default;
  bool operator==(const DeviceKey&) const = default;
  std::string to_string() const { return worker + "/" + std::to_string(index); }
};

struct DeviceKeyHash {
  size_t operator()(const DeviceKey& d) const {
    return std::hash<std::string>()(d.worker) * 31u + d.index;
  }
};

// Interactive jobs leave the queue before batch jobs; FIFO within a priority.
using Priority = ::rs::Priority;  // defined once, in rs_core (rs/core/priority.h)
using ::rs::kNumPriorities;

// What the router needs to know of a job to pick its routing key.
struct RouteRequest {
  ModelName model;
  std::string affinity_key;  // empty: none
  std::string session_id;    // empty: none
  std::string prompt;        // only the first kRoutePromptBytes bytes are used
};
inline constexpr size_t kRoutePromptBytes = 256;

// A device as announced in a worker's READY.
struct DeviceSpec {
  uint32_t index = 0;
  uint32_t slots = 0;               // how many jobs it may run at once
  std::vector<ModelName> models;    // models loaded on it
};

// A job a worker says it still holds when it sends READY (after a broker restart or a
// reconnect): adopted if that attempt on that device is still the current one.
struct ClaimedJob {
  JobId job;
  uint32_t attempt = 0;
  uint32_t device = 0;  // index on the worker
};

struct WorkerReady {
  WorkerId id;
  std::vector<DeviceSpec> devices;
  std::vector<ClaimedJob> jobs;
};

// A job a device was running, handed back when its worker expires or leaves.
struct HeldJob {
  JobId job;
  DeviceKey device;
};

}  // namespace rs::broker
