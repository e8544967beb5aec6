// FakeBrokerRouter: a bare ROUTER bound on a free loopback port, standing in for the broker in
// worker tests. It speaks to one worker (by its routing id): sends typed messages or raw
// frames, and receives the worker's messages parsed, keeping each job's tokens and
// WORKER_DONE; optionally it answers every worker heartbeat. The test's thread only.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>
#include <zmq.hpp>

#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::test {

class FakeBrokerRouter {
 public:
  FakeBrokerRouter(zmq::context_t& ctx, std::string worker_id) : worker_id_(std::move(worker_id)) {
    auto r = wire::make_router(ctx);
    EXPECT_TRUE(r.ok());
    socket_ = std::move(r).value();
    auto ep = wire::bind_endpoint(socket_, "tcp://127.0.0.1:*");
    EXPECT_TRUE(ep.ok());
    endpoint_ = ep.ok() ? *ep : std::string();
  }
  const std::string& endpoint() const { return endpoint_; }
  // On: every WORKER_HEARTBEAT read is answered with a BROKER_HEARTBEAT, as a live broker
  // does (the worker never finds it silent). Off (the default): it speaks only when told.
  void answer_heartbeats(bool on) { answer_heartbeats_ = on; }

  template <typename T>
  void send(const T& message) {
    ASSERT_EQ(wire::send_frames(socket_, {worker_id_}, schemas::make_frames(message),
                                wire::IoMode::kBlock),
              wire::SendStatus::kSent);
  }
  void send_raw(const schemas::Frames& frames) {
    ASSERT_EQ(wire::send_frames(socket_, {worker_id_}, frames, wire::IoMode::kBlock),
              wire::SendStatus::kSent);
  }

  // Every worker message until (and with) the first T.
  template <typename T>
  std::vector<schemas::Message> until(long timeout_ms = 5000) {
    std::vector<schemas::Message> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      std::optional<schemas::Message> m = receive(20);
      if (!m) continue;
      out.push_back(std::move(*m));
      if (std::holds_alternative<T>(out.back())) return out;
    }
    ADD_FAILURE() << "timed out waiting for a message";
    return out;
  }

  // The next message of type T, skipping the others (the tokens skipped are counted in
  // n_tokens).
  template <typename T>
  std::optional<T> next(long timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      std::optional<schemas::Message> m = receive(20);
      if (!m) continue;
      if (auto* t = std::get_if<T>(&*m)) return *t;
      if (auto* tokens = std::get_if<schemas::WorkerTokens>(&*m))
        n_tokens += tokens->entries.size();
    }
    ADD_FAILURE() << "timed out waiting for a message";
    return std::nullopt;
  }

  // Reads worker messages until `done(message)` holds for one; false on timeout.
  bool read_until(const std::function<bool(const schemas::Message&)>& done,
                  long timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      std::optional<schemas::Message> m = receive(20);
      if (m && done(*m)) return true;
    }
    return false;
  }

  // The worker's READY, acknowledged the way the broker does (a heartbeat).
  std::optional<schemas::WorkerReady> accept_ready(long timeout_ms = 5000) {
    auto ready = next<schemas::WorkerReady>(timeout_ms);
    if (ready) send(schemas::BrokerHeartbeat{.broker_time_ms = 1});
    return ready;
  }

  // The job's WORKER_DONE (already read, or the next one for it).
  std::optional<schemas::WorkerDone> done(const std::string& job_id, long timeout_ms = 5000) {
    if (dones.count(job_id) == 0) {
      read_until([&](const schemas::Message&) { return dones.count(job_id) != 0; }, timeout_ms);
    }
    auto it = dones.find(job_id);
    return it == dones.end() ? std::nullopt : std::optional<schemas::WorkerDone>(it->second);
  }

  size_t n_tokens = 0;
  std::map<std::string, std::vector<int32_t>> tokens;  // every token read, by job
  std::map<std::string, schemas::WorkerDone> dones;    // every WORKER_DONE read, by job

 private:
  // One worker message within timeout_ms (nullopt: none, or one that did not parse).
  std::optional<schemas::Message> receive(long timeout_ms) {
    wire::Poller poller;
    poller.add(socket_);
    auto ready = poller.poll(timeout_ms);
    if (!ready.ok() || *ready == 0) return std::nullopt;
    wire::Received r = wire::recv_frames(socket_, wire::RecvLimits{.n_routing = 1});
    if (r.status != wire::RecvStatus::kMessage) return std::nullopt;
    EXPECT_EQ(r.envelope.routing.front(), worker_id_);
    auto m = schemas::parse_frames(r.envelope.frames, schemas::Direction::kWorkerToBroker);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    if (!m.ok()) return std::nullopt;
    record(*m);
    return std::move(m).value();
  }
  void record(const schemas::Message& m) {
    if (answer_heartbeats_ && std::holds_alternative<schemas::WorkerHeartbeat>(m)) {
      send(schemas::BrokerHeartbeat{.broker_time_ms = 1});
    }
    if (auto* t = std::get_if<schemas::WorkerTokens>(&m)) {
      for (const auto& e : t->entries) tokens[e.job_id].push_back(e.token);
    }
    if (auto* d = std::get_if<schemas::WorkerDone>(&m)) dones[d->job_id] = *d;
  }

  std::string worker_id_;
  zmq::socket_t socket_;
  std::string endpoint_;
  bool answer_heartbeats_ = false;
};

}  // namespace rs::test
