#include "rs/broker/router.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace rs::broker {

namespace {
constexpr uint64_t kAffinitySeed = 0x61666669ULL;  // distinct seeds keep the three kinds
constexpr uint64_t kSessionSeed = 0x73657373ULL;   // of key apart
constexpr uint64_t kPromptSeed = 0x70726f6dULL;
}  // namespace

uint64_t routing_key(const RouteRequest& request) {
  if (!request.affinity_key.empty()) return hash_bytes(request.affinity_key, kAffinitySeed);
  if (!request.session_id.empty()) return hash_bytes(request.session_id, kSessionSeed);
  std::string bytes = request.model;
  bytes += '\0';
  bytes.append(request.prompt, 0, std::min(request.prompt.size(), kRoutePromptBytes));
  return hash_bytes(bytes, kPromptSeed);
}

Router::Router(RouterOptions options) : options_(options) {
  if (!(options_.load_factor >= 1.0)) options_.load_factor = 1.0;
}

bool Router::add_device(const ModelName& model, const DeviceKey& device) {
  auto it = rings_.try_emplace(model, options_.virtual_nodes).first;
  return it->second.add(device);
}

bool Router::remove_device(const ModelName& model, const DeviceKey& device) {
  auto it = rings_.find(model);
  if (it == rings_.end()) return false;
  bool removed = it->second.remove(device);
  if (it->second.empty()) rings_.erase(it);
  return removed;
}

void Router::remove_device_everywhere(const DeviceKey& device) {
  for (auto it = rings_.begin(); it != rings_.end();) {
    it->second.remove(device);
    it = it->second.empty() ? rings_.erase(it) : std::next(it);
  }
}

bool Router::serves(const ModelName& model) const { return rings_.count(model) != 0; }

const HashRing* Router::ring(const ModelName& model) const {
  auto it = rings_.find(model);
  return it == rings_.end() ? nullptr : &it->second;
}

uint32_t Router::load_bound(const ModelName& model, const DeviceLoadView& load) const {
  const HashRing* r = ring(model);
  if (r == nullptr || r->empty()) return 0;
  uint64_t total = 0;
  for (const DeviceKey& d : r->devices()) total += load.in_flight(d);
  double average = static_cast<double>(total + 1) / static_cast<double>(r->num_devices());
  // The small epsilon keeps ceil(1.25 x 4.0) at 5, not 6, despite rounding.
  return static_cast<uint32_t>(std::ceil(options_.load_factor * average - 1e-9));
}

std::optional<DeviceKey> Router::route(const ModelName& model, uint64_t key,
                                       const DeviceLoadView& load) const {
  const HashRing* r = ring(model);
  if (r == nullptr) return std::nullopt;
  uint32_t bound = load_bound(model, load);
  return r->first_clockwise(key, [&](const DeviceKey& d) {
    return load.free_slots(d) > 0 && load.in_flight(d) < bound;
  });
}

}  // namespace rs::broker
