// BrokerLoop: each ROUTER's socket monitor. A closed connection's descriptor goes to the
// state, which expires its worker or ends its client's streaming jobs once the messages
// read before it are handled (docs/BROKER.md "Peers that go away").
#include <spdlog/spdlog.h>

#include <atomic>

#include "rs/broker/loop/broker_loop.h"

namespace rs::broker {

void BrokerLoop::start_monitors() {
  static std::atomic<uint64_t> instances{0};
  const std::string name = "broker-" + std::to_string(instances.fetch_add(1));
  if (Status s = worker_monitor_.start(context_, workers_, name + "-workers"); !s.ok()) {
    spdlog::warn("broker: no worker connection monitor ({}): heartbeats alone expire workers",
                 s.to_string());
  }
  if (Status s = client_monitor_.start(context_, clients_, name + "-clients"); !s.ok()) {
    spdlog::warn("broker: no client connection monitor: {}", s.to_string());
  }
}

// An accepted connection changes nothing: its first message (READY) may be read before its
// event, and maps its fd then.
void BrokerLoop::drain_monitors() {
  while (std::optional<wire::PeerEvent> e = worker_monitor_.next()) {
    if (*e->handshake_failure != '\0') {
      state_->metrics().auth_refused(kWorkersDomain, std::string("handshake_") + e->handshake_failure);
    } else if (!e->connected) {
      state_->on_worker_fd_closed(e->fd);
    }
  }
  while (std::optional<wire::PeerEvent> e = client_monitor_.next()) {
    if (*e->handshake_failure != '\0') {
      state_->metrics().auth_refused(kClientsDomain, std::string("handshake_") + e->handshake_failure);
    } else if (!e->connected) {
      client_fd_keys_.erase(e->fd);
      state_->on_client_fd_closed(e->fd);
    }
  }
}

}  // namespace rs::broker
