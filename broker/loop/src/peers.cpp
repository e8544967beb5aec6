// BrokerLoop: peers whose connection drops. Each ROUTER has a socket monitor; a message's
// connection (Received::src_fd) names its peer. A worker whose connection drops is expired
// at once (its jobs move on, resumed from their logs), without waiting for missed
// heartbeats; a client's streaming jobs that were not submitted detached are cancelled and
// its subscriptions end (docs/BROKER.md "Peers that go away").
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

// Drops wait until the messages their peer sent before going are read (a draining
// worker's last hand-backs, a client's CANCEL): handle_drops() runs after the sockets are
// drained. An accepted connection changes nothing: its first message (READY) may be read
// before its event, and maps its fd then.
void BrokerLoop::drain_monitors() {
  while (std::optional<wire::PeerEvent> e = worker_monitor_.next()) {
    if (!e->connected) dropped_worker_fds_.push_back(e->fd);
  }
  while (std::optional<wire::PeerEvent> e = client_monitor_.next()) {
    if (!e->connected) dropped_client_fds_.push_back(e->fd);
  }
}

void BrokerLoop::handle_drops(bool workers_drained, bool clients_drained) {
  if (workers_drained) {
    for (int fd : dropped_worker_fds_) on_worker_connection_lost(fd);
    dropped_worker_fds_.clear();
  }
  if (clients_drained) {
    for (int fd : dropped_client_fds_) on_client_connection_lost(fd);
    dropped_client_fds_.clear();
  }
}

// READY binds the connection to the worker; any older connection of it is forgotten (its
// drop must not expire the new registration).
void BrokerLoop::note_worker_fd(int fd, const std::string& worker) {
  if (fd < 0) return;
  std::erase_if(worker_fds_, [&](const auto& entry) { return entry.second == worker; });
  worker_fds_[fd] = worker;
}

void BrokerLoop::note_client_fd(int fd, const wire::RoutingIds& peer) {
  if (fd < 0 || peer.empty()) return;
  auto [it, inserted] = client_fds_.try_emplace(fd, peer.front());
  if (!inserted && it->second != peer.front()) it->second = peer.front();
}

void BrokerLoop::on_worker_connection_lost(int fd) {
  auto it = worker_fds_.find(fd);
  if (it == worker_fds_.end()) return;
  const std::string worker = std::move(it->second);
  worker_fds_.erase(it);
  if (!dispatcher_.workers().contains(worker)) return;
  spdlog::warn("broker: worker {} lost: its connection dropped", worker);
  counters_.workers_dropped.fetch_add(1, std::memory_order_relaxed);
  execute(dispatcher_.on_worker_disconnect(worker));
  forget_worker_route(worker);
}

void BrokerLoop::on_client_connection_lost(int fd) {
  auto it = client_fds_.find(fd);
  if (it == client_fds_.end()) return;
  const std::string peer = std::move(it->second);
  client_fds_.erase(it);
  std::vector<JobId> cancel;
  for (auto& [id, job] : live_) {
    std::erase_if(job.subscribers, [&](const Subscriber& s) { return s.peer.front() == peer; });
    if (job.submitter.empty() || job.submitter.front() != peer) continue;
    job.submitter.clear();  // nobody to answer
    if (job.request.stream && !job.request.detach) cancel.push_back(id);
  }
  for (const JobId& id : cancel) {
    spdlog::info("broker: job {}: its submitter's connection dropped; cancelling", id);
    counters_.submitters_gone.fetch_add(1, std::memory_order_relaxed);
    execute(dispatcher_.on_cancel(id));
  }
}

}  // namespace rs::broker
