// HashRing: one model's consistent-hash ring over devices, each placed at many virtual
// nodes (xxh3 64-bit of "worker/index/vnode"). Owns only the ring points; knows nothing
// of load. Not thread-safe: the broker loop thread only (tests may use it freely).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "rs/broker/types.h"

namespace rs::broker {

inline constexpr int kDefaultVirtualNodes = 128;

// xxh3 64-bit of bytes with a seed; the one hash the broker core uses.
uint64_t hash_bytes(std::string_view bytes, uint64_t seed = 0);

class HashRing {
 public:
  explicit HashRing(int virtual_nodes = kDefaultVirtualNodes);

  // False if the device is already (resp. not) on the ring.
  bool add(const DeviceKey& device);
  bool remove(const DeviceKey& device);
  bool contains(const DeviceKey& device) const;

  size_t num_devices() const { return devices_.size(); }
  bool empty() const { return devices_.empty(); }
  const std::vector<DeviceKey>& devices() const { return devices_; }

  // The device owning key: the first point at or after key, wrapping around.
  std::optional<DeviceKey> lookup(uint64_t key) const;

  // Walks clockwise from key, offering each distinct device once, and returns the first
  // that accept(device) takes; nullopt if none does.
  template <typename Accept>
  std::optional<DeviceKey> first_clockwise(uint64_t key, Accept&& accept) const;

 private:
  struct Point {
    uint64_t hash;
    uint32_t device;  // index into devices_
  };
  size_t start_point(uint64_t key) const;
  void sort_points();

  int virtual_nodes_;
  std::vector<DeviceKey> devices_;
  std::vector<Point> points_;  // sorted by (hash, device key)
};

template <typename Accept>
std::optional<DeviceKey> HashRing::first_clockwise(uint64_t key, Accept&& accept) const {
  if (points_.empty()) return std::nullopt;
  std::vector<bool> seen(devices_.size(), false);
  size_t n_seen = 0;
  size_t at = start_point(key);
  for (size_t step = 0; step < points_.size() && n_seen < devices_.size(); ++step) {
    const Point& p = points_[(at + step) % points_.size()];
    if (seen[p.device]) continue;
    seen[p.device] = true;
    ++n_seen;
    if (accept(devices_[p.device])) return devices_[p.device];
  }
  return std::nullopt;
}

}  // namespace rs::broker
