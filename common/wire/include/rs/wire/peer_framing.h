// PeerFraming: which peers of one ROUTER (by routing id) have sent the packed form, so that
// what goes to them is packed too; every other peer gets three frames. Bounded: past
// max_peers it forgets them all (a forgotten peer is sent three frames, which every receiver
// takes, until its next message). Owned by the thread of that ROUTER socket.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_set>

#include "rs/wire/framing.h"

namespace rs::wire {

class PeerFraming {
 public:
  static constexpr size_t kDefaultMaxPeers = 65536;
  explicit PeerFraming(size_t max_peers = kDefaultMaxPeers) : max_peers_(max_peers) {}

  // A message from `routing` came in packed or not.
  void note(const RoutingIds& routing, bool packed) {
    if (routing.empty()) return;
    if (!packed) {
      if (!packed_.empty()) packed_.erase(routing.front());
      return;
    }
    if (packed_.size() >= max_peers_ && !packed_.contains(routing.front())) packed_.clear();
    packed_.insert(routing.front());
  }
  Framing framing_for(const RoutingIds& routing) const {
    return !routing.empty() && packed_.contains(routing.front()) ? Framing::kPacked
                                                                 : Framing::kFrames;
  }
  size_t size() const { return packed_.size(); }

 private:
  size_t max_peers_;
  std::unordered_set<std::string> packed_;
};

}  // namespace rs::wire
