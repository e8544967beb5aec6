// bench-broker clients: K DEALER threads, each keeping up to W streaming SUBMITs in flight
// (optionally at a fixed rate). Each SUBMIT's prompt is its send time on the steady clock,
// so a scripted worker in this process can time the broker's share up to DISPATCH.
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "bench_broker.h"
#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::bench {
namespace {

namespace sc = rs::schemas;

struct Window {
  int64_t start_ns, end_ns;
  bool contains(int64_t t) const { return t >= start_ns && t < end_ns; }
};

class Client {
 public:
  Client(zmq::context_t& ctx, const ClientConfig& config, int index, int64_t t0)
      : config_(config), index_(index) {
    wire::DealerOptions o;
    o.routing_id = "bench-c" + std::to_string(index);
    o.curve = config.curve;
    auto d = wire::make_dealer(ctx, o);
    if (d.ok()) socket_ = std::move(d).value();
    if (d.ok()) ok_ = wire::connect_endpoint(socket_, config.endpoint).ok();
    int64_t warm = static_cast<int64_t>(config.warmup_s * 1e9);
    window_ = {t0 + warm, t0 + warm + static_cast<int64_t>(config.measure_s * 1e9)};
    if (config.rate_jobs_s > 0)
      interval_ns_ = static_cast<int64_t>(1e9 * config.clients / config.rate_jobs_s);
    // Spread the clients' first sends over one interval.
    next_send_ns_ = t0 + interval_ns_ * index_ / std::max(1, config.clients);
  }

  ClientStats run() {
    if (!ok_) return stats_;
    const int64_t drain_until = window_.end_ns + 3'000'000'000LL;
    for (;;) {
      int64_t now = steady_ns();
      if (now < window_.end_ns)
        submit_some(now);
      else if (in_flight_ == 0 || now > drain_until)
        break;
      wire::Poller poller;
      poller.add(socket_);
      // zmq_poll counts in ms: a rate-limited client sends what fell due each wake-up.
      long wait_ms = (interval_ns_ > 0 && next_send_ns_ <= steady_ns()) ? 0 : 1;
      if (!poller.poll(wait_ms).ok()) break;
      receive_all();
    }
    return std::move(stats_);
  }

 private:
  void submit_some(int64_t now) {
    while (in_flight_ < config_.window) {
      if (interval_ns_ > 0) {
        if (now < next_send_ns_) return;
        next_send_ns_ += interval_ns_;
      }
      sc::SubmitRequest r;
      r.request_id = ++request_id_;
      r.model = config_.model;
      r.max_tokens = config_.max_tokens;
      r.sampling.temperature = 0;
      int64_t sent = steady_ns();
      r.prompt = std::to_string(sent);
      if (wire::send_frames(socket_, sc::make_frames(r), wire::IoMode::kDontWait,
                            config_.framing) != wire::SendStatus::kSent)
        return;
      ++in_flight_;
      if (window_.contains(sent)) ++stats_.submitted;
      if (interval_ns_ > 0) now = steady_ns();
    }
  }

  void receive_all() {
    for (;;) {
      wire::Received m = wire::recv_frames(socket_, wire::RecvLimits{});
      if (m.status != wire::RecvStatus::kMessage) return;
      auto parsed = sc::parse_frames(m.envelope.frames, sc::Direction::kBrokerToClient);
      if (!parsed.ok()) continue;
      int64_t now = steady_ns();
      bool counted = window_.contains(now);
      if (auto* t = std::get_if<sc::TokenBatch>(&*parsed)) {
        if (counted) stats_.tokens += t->entries.size();
      } else if (auto* d = std::get_if<sc::Done>(&*parsed)) {
        --in_flight_;
        if (!counted) continue;
        ++stats_.done;
        if (d->record.state != sc::JobState::kSucceeded) ++stats_.failed;
        if (config_.track_latency) stats_.done_recv_ns.emplace(d->record.job_id, now);
      } else if (std::holds_alternative<sc::Rejected>(*parsed)) {
        --in_flight_;
        if (counted) ++stats_.rejected;
      }
    }
  }

  const ClientConfig& config_;
  int index_;
  zmq::socket_t socket_;
  bool ok_ = false;
  Window window_{};
  int64_t interval_ns_ = 0;
  int64_t next_send_ns_ = 0;
  int in_flight_ = 0;
  uint64_t request_id_ = 0;
  ClientStats stats_;
};

}  // namespace

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

RunResult run_clients(zmq::context_t& ctx, const ClientConfig& config) {
  RunResult result;
  result.per_client.resize(static_cast<size_t>(config.clients));
  const int64_t t0 = steady_ns() + 50'000'000;  // all clients connected by then
  std::vector<std::thread> threads;
  for (int i = 0; i < config.clients; ++i) {
    threads.emplace_back([&, i] {
      pthread_setname_np(pthread_self(), ("client-" + std::to_string(i)).c_str());
      Client c(ctx, config, i, t0);
      while (steady_ns() < t0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      result.per_client[static_cast<size_t>(i)] = c.run();
    });
  }
  for (auto& t : threads) t.join();
  result.seconds = config.measure_s;
  for (const ClientStats& s : result.per_client) {
    result.submitted += s.submitted;
    result.done += s.done;
    result.failed += s.failed;
    result.rejected += s.rejected;
    result.tokens += s.tokens;
  }
  return result;
}

}  // namespace rs::bench
