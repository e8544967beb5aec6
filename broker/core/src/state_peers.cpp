// BrokerState: peers whose connection drops. The loop's socket monitors report closed
// connections (fds); a message's connection names its peer. A worker whose connection drops is expired
// at once (its jobs move on, resumed from their logs), without waiting for missed
// heartbeats; a client's streaming jobs that were not submitted detached are cancelled and
// its subscriptions end. A client that stops answering (nothing heard from it and every
// send to it failing for client_timeout_ms) is treated the same (docs/BROKER.md "Peers that
// go away").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <cctype>

#include "rs/broker/broker_state.h"

namespace rs::broker {
namespace {

// A routing id for logs: as is when printable, else hex (ZeroMQ's own ids are binary).
std::string printable_id(const std::string& id) {
  bool printable = !id.empty();
  for (unsigned char c : id) printable = printable && std::isprint(c) != 0;
  if (printable) return id;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (unsigned char c : id) out.append({kHex[c >> 4], kHex[c & 15]});
  return out;
}

}  // namespace

// Drops wait until the messages their peer sent before going are read (a draining
// worker's last hand-backs, a client's CANCEL): handle_drops() runs at the turn's end. An
// accepted connection changes nothing: its first message (READY) may be read before its
// event, and maps its fd then. A drop already handled because its descriptor was reused
// (note_*_fd) is skipped.
namespace {

void take_drop(int fd, std::vector<int>& dropped, std::unordered_map<int, int>& stale) {
  if (auto it = stale.find(fd); it != stale.end()) {
    if (--it->second == 0) stale.erase(it);
    return;
  }
  dropped.push_back(fd);
}

}  // namespace

void BrokerState::on_worker_fd_closed(int fd) { take_drop(fd, dropped_worker_fds_, stale_worker_drops_); }

void BrokerState::on_client_fd_closed(int fd) { take_drop(fd, dropped_client_fds_, stale_client_drops_); }

void BrokerState::note_client_heard(const RoutingIds& peer) {
  if (failing_clients_.empty() || peer.empty()) return;
  if (auto it = failing_clients_.find(peer.front()); it != failing_clients_.end()) {
    it->second.last_heard_ns = clock_.now_ns();
  }
}

void BrokerState::forget_drop_event(int fd, std::vector<int>& dropped,
                                   std::unordered_map<int, int>& stale) {
  if (auto it = std::find(dropped.begin(), dropped.end(), fd); it != dropped.end()) {
    dropped.erase(it);  // read already, not handled yet
    return;
  }
  ++stale[fd];  // still to come
}

void BrokerState::handle_drops(bool workers_drained, bool clients_drained) {
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
// A READY on a descriptor another worker's connection had: that connection is gone (the
// descriptor was reused before its drop event was read), so that worker is lost now.
void BrokerState::note_worker_fd(int fd, const std::string& worker) {
  if (fd < 0) return;
  std::erase_if(worker_fds_, [&](const auto& entry) { return entry.second == worker; });
  auto [it, inserted] = worker_fds_.try_emplace(fd, worker);
  if (inserted || it->second == worker) return;
  const std::string old = std::exchange(it->second, worker);
  forget_drop_event(fd, dropped_worker_fds_, stale_worker_drops_);
  if (!dispatcher_.workers().contains(old)) return;
  spdlog::warn("broker: worker {} lost: its connection's descriptor now serves {}", old, worker);
  counters_.workers_dropped.fetch_add(1, std::memory_order_relaxed);
  execute(dispatcher_.on_worker_disconnect(old));
  forget_worker_route(old);
}

// Every message names its connection. A message from another client on a known
// descriptor: the old connection is gone (reused descriptor, its drop event not read yet).
// A client on a new descriptor: its old connection's drop is not its end.
void BrokerState::note_client_fd(int fd, const RoutingIds& peer) {
  if (fd < 0 || peer.empty()) return;
  const std::string& client = peer.front();
  auto [it, inserted] = client_fds_.try_emplace(fd, client);
  if (!inserted) {
    if (it->second == client) return;  // the common case: nothing changed
    std::string old = std::exchange(it->second, client);
    forget_drop_event(fd, dropped_client_fds_, stale_client_drops_);
    if (auto o = client_fd_of_.find(old); o != client_fd_of_.end() && o->second == fd) {
      client_fd_of_.erase(o);
    }
    on_client_gone(old, "its connection's descriptor now serves another client");
  }
  auto [c, fresh] = client_fd_of_.try_emplace(client, fd);
  if (fresh || c->second == fd) return;
  if (auto o = client_fds_.find(c->second); o != client_fds_.end() && o->second == client) {
    client_fds_.erase(o);
  }
  c->second = fd;
}

void BrokerState::on_worker_connection_lost(int fd) {
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

void BrokerState::on_client_connection_lost(int fd) {
  auto it = client_fds_.find(fd);
  if (it == client_fds_.end()) return;
  const std::string peer = std::move(it->second);
  client_fds_.erase(it);
  if (auto o = client_fd_of_.find(peer); o != client_fd_of_.end() && o->second == fd) {
    client_fd_of_.erase(o);
  }
  on_client_gone(peer, "its submitter's connection dropped");
}

void BrokerState::on_client_gone(const std::string& client, const char* why) {
  failing_clients_.erase(client);
  streams_.drop_client(client);  // its held replies and `lagged` notices
  std::vector<JobId> cancel;
  for (auto& [id, entry] : jobs_.entries()) {
    LiveJob& job = entry.stream;
    std::erase_if(job.subscribers, [&](const Subscriber& s) { return s.peer.front() == client; });
    if (job.submitter.empty() || job.submitter.front() != client) continue;
    job.submitter.clear();  // nobody to answer
    if (job.request.stream && !job.request.detach) cancel.push_back(id);
  }
  for (const JobId& id : cancel) {
    spdlog::info("broker: job {}: {}; cancelling", id, why);
    counters_.submitters_gone.fetch_add(1, std::memory_order_relaxed);
    execute(dispatcher_.on_cancel(id));
  }
}

// A stretch of failed sends to a client begins at its first failure since a send went
// through, and breaks when no send to it failed for client_timeout_ms (a queue full once
// says nothing about later). The client is timed out once the stretch lasted
// client_timeout_ms with nothing heard from it meanwhile. A lagged client's `lagged`
// notice is retried every turn, so one that stopped reading is found within the timeout.
void BrokerState::on_client_send_failed(const std::string& client) {
  if (options_.client_timeout_ms <= 0) return;
  const int64_t now = clock_.now_ns();
  const int64_t timeout_ns = options_.client_timeout_ms * 1'000'000;
  auto [it, inserted] = failing_clients_.try_emplace(client);
  FailingClient& f = it->second;
  if (inserted || now - f.last_failed_ns > timeout_ns) {
    f = FailingClient{.failing_since_ns = now, .last_heard_ns = now};
  }
  f.last_failed_ns = now;
  if (f.timed_out || now - f.failing_since_ns < timeout_ns || now - f.last_heard_ns < timeout_ns) {
    return;
  }
  f.timed_out = true;
  timed_out_clients_.push_back(client);
}

// Once a turn while some client's sends fail: timed-out clients are gone (their CANCELs go
// out with the next turn); stretches that broke are forgotten (at most once a timeout).
void BrokerState::check_client_timeouts() {
  for (const std::string& client : timed_out_clients_) {
    spdlog::warn(
        "broker: client {}: nothing heard and every send failed for {} ms; "
        "treating it as gone",
        printable_id(client), options_.client_timeout_ms);
    counters_.clients_timed_out.fetch_add(1, std::memory_order_relaxed);
    // Its `lagged` notices go too: retried, they would fail on and time it out again.
    streams_.drop_client(client);
    on_client_gone(client, "its submitter stopped answering");
  }
  timed_out_clients_.clear();
  const int64_t now = clock_.now_ns();
  if (now < next_failing_sweep_ns_) return;
  const int64_t timeout_ns = options_.client_timeout_ms * 1'000'000;
  next_failing_sweep_ns_ = now + timeout_ns;
  std::erase_if(failing_clients_,
                [&](const auto& entry) { return now - entry.second.last_failed_ns > timeout_ns; });
}

}  // namespace rs::broker
