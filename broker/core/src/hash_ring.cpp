#include "rs/broker/hash_ring.h"

#include <xxhash.h>

#include <algorithm>
#include <string>

namespace rs::broker {

uint64_t hash_bytes(std::string_view bytes, uint64_t seed) {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

namespace {

uint64_t point_hash(const DeviceKey& device, int vnode) {
  std::string label = device.worker;
  label += '/';
  label += std::to_string(device.index);
  label += '/';
  label += std::to_string(vnode);
  return hash_bytes(label);
}

}  // namespace

HashRing::HashRing(int virtual_nodes) : virtual_nodes_(std::max(1, virtual_nodes)) {}

bool HashRing::contains(const DeviceKey& device) const {
  return std::find(devices_.begin(), devices_.end(), device) != devices_.end();
}

bool HashRing::add(const DeviceKey& device) {
  if (contains(device)) return false;
  auto slot = static_cast<uint32_t>(devices_.size());
  devices_.push_back(device);
  points_.reserve(points_.size() + static_cast<size_t>(virtual_nodes_));
  for (int v = 0; v < virtual_nodes_; ++v) points_.push_back({point_hash(device, v), slot});
  sort_points();
  return true;
}

bool HashRing::remove(const DeviceKey& device) {
  auto it = std::find(devices_.begin(), devices_.end(), device);
  if (it == devices_.end()) return false;
  auto slot = static_cast<uint32_t>(it - devices_.begin());
  devices_.erase(it);
  std::erase_if(points_, [slot](const Point& p) { return p.device == slot; });
  for (Point& p : points_) {
    if (p.device > slot) --p.device;
  }
  return true;  // erasing keeps the order; indices shift but device keys do not
}

std::optional<DeviceKey> HashRing::lookup(uint64_t key) const {
  if (points_.empty()) return std::nullopt;
  return devices_[points_[start_point(key)].device];
}

size_t HashRing::start_point(uint64_t key) const {
  auto it = std::lower_bound(points_.begin(), points_.end(), key,
                             [](const Point& p, uint64_t k) { return p.hash < k; });
  return it == points_.end() ? 0 : static_cast<size_t>(it - points_.begin());
}

void HashRing::sort_points() {
  // Ties (equal 64-bit hashes) break by device key so the ring never depends on the
  // order devices joined.
  std::sort(points_.begin(), points_.end(), [this](const Point& a, const Point& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    return devices_[a.device] < devices_[b.device];
  });
}

}  // namespace rs::broker
