// ScriptedWorkers: the random simulations' workers. Each is a DEALER peer that keeps the
// jobs dispatched to it (attempt, next seq) and streams, ends or fails one when the test
// says so; a cancel is answered at once. A slot may be empty (its connection dropped).
// Test thread only.
#pragma once

#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "broker_fixture.h"

namespace rs::broker::testing {

class ScriptedWorkers {
 public:
  struct HeldJob {
    uint32_t attempt = 0;
    uint64_t next_seq = 0;
  };

  void add(std::unique_ptr<Peer> peer) {
    peers_.push_back(std::move(peer));
    held_.emplace_back();
  }
  size_t size() const { return peers_.size(); }
  bool connected(size_t w) const { return peers_[w] != nullptr; }
  size_t n_connected() const {
    size_t n = 0;
    for (const auto& p : peers_) n += p ? 1 : 0;
    return n;
  }
  // The connection drops: the worker forgets its jobs (the broker moves them on).
  void drop(size_t w) {
    peers_[w].reset();
    held_[w].clear();
  }
  void reconnect(size_t w, std::unique_ptr<Peer> peer) { peers_[w] = std::move(peer); }

  // Reads what the broker sent: DISPATCHes are held (from their resume tokens on),
  // CANCEL_JOBs of a held attempt answered DONE cancelled.
  void pump() {
    for (size_t w = 0; w < peers_.size(); ++w) {
      if (!peers_[w]) continue;
      while (auto m = peers_[w]->recv(0)) {
        if (auto* d = std::get_if<sc::Dispatch>(&*m)) {
          held_[w][d->job_id] = HeldJob{d->attempt, d->resume_tokens.size()};
        } else if (auto* c = std::get_if<sc::CancelJob>(&*m)) {
          auto it = held_[w].find(c->job_id);
          if (it == held_[w].end() || it->second.attempt != c->attempt) continue;
          peers_[w]->send(sc::WorkerDone{.job_id = c->job_id,
                                         .attempt = c->attempt,
                                         .device = 0,
                                         .finish_reason = "cancelled"});
          held_[w].erase(it);
        }
      }
    }
  }
  // A random held job of a random connected worker: (worker, job), or nullopt.
  std::optional<std::pair<size_t, std::string>> pick(std::mt19937_64& rng) const {
    const size_t w = rng() % peers_.size();
    if (!peers_[w] || held_[w].empty()) return std::nullopt;
    auto it = held_[w].begin();
    std::advance(it, static_cast<long>(rng() % held_[w].size()));
    return std::make_pair(w, it->first);
  }
  void stream(size_t w, const std::string& job, uint64_t n) {
    HeldJob& h = held_[w][job];
    peers_[w]->send(
        sc::WorkerTokens{.entries = scripted_tokens(job, h.attempt, h.next_seq, h.next_seq + n)});
    h.next_seq += n;
  }
  void end(size_t w, const std::string& job) {
    const HeldJob h = held_[w][job];
    peers_[w]->send(
        sc::WorkerDone{.job_id = job,
                       .attempt = h.attempt,
                       .device = 0,
                       .usage = sc::Usage{.completion_tokens = static_cast<uint32_t>(h.next_seq)},
                       .finish_reason = "length"});
    held_[w].erase(job);
  }
  // A retryable failure: the broker requeues the job (resumed from its log).
  void fail(size_t w, const std::string& job) {
    const HeldJob h = held_[w][job];
    peers_[w]->send(sc::WorkerFailed{.job_id = job,
                                     .attempt = h.attempt,
                                     .device = 0,
                                     .code = sc::ErrorCode::kUnavailable,
                                     .message = "sim: engine hiccup"});
    held_[w].erase(job);
  }
  // Ends every job the connected workers hold.
  void end_all() {
    for (size_t w = 0; w < held_.size(); ++w) {
      while (peers_[w] && !held_[w].empty()) end(w, held_[w].begin()->first);
    }
  }

 private:
  std::vector<std::unique_ptr<Peer>> peers_;
  std::vector<std::map<std::string, HeldJob>> held_;
};

}  // namespace rs::broker::testing
