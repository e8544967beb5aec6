// bench-broker scripted worker: one DEALER thread that READYs with D devices x S slots and
// answers each DISPATCH at once with one WORKER_TOKENS of N tokens and a WORKER_DONE, so a
// run measures the broker (and Redis), not an engine.
#include <pthread.h>

#include <charconv>
#include <thread>

#include "bench_broker.h"
#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::bench {

namespace sc = rs::schemas;

ScriptedWorker::ScriptedWorker(zmq::context_t& ctx, ScriptedWorkerConfig config)
    : ctx_(ctx), config_(std::move(config)) {
  for (uint32_t i = 0; i < config_.n_tokens; ++i)
    token_texts_.push_back(" tok" + std::to_string(i));
}

ScriptedWorker::~ScriptedWorker() {
  stop();
}

bool ScriptedWorker::start() {
  thread_ = std::thread([this] { run(); });
  for (int i = 0; i < 5000 && state_.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return state_.load() == 1;
}

void ScriptedWorker::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

namespace {

sc::WorkerReady ready_message(const ScriptedWorkerConfig& c) {
  sc::WorkerReady r{.worker_id = c.id};
  for (uint32_t d = 0; d < c.devices; ++d) {
    r.devices.push_back(sc::DeviceInfo{.index = static_cast<int32_t>(d),
                                       .models = {c.model},
                                       .free_slots = c.slots,
                                       .max_slots = c.slots});
  }
  return r;
}

int64_t parse_ns(const std::string& s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

void ScriptedWorker::run() {
  pthread_setname_np(pthread_self(), "scripted-wrk");
  wire::DealerOptions o;
  o.routing_id = config_.id;
  o.curve = config_.curve;
  auto d = wire::make_dealer(ctx_, o);
  if (!d.ok() || !wire::connect_endpoint(*d, config_.endpoint).ok()) {
    state_.store(-1);
    return;
  }
  zmq::socket_t socket = std::move(d).value();
  wire::send_frames(socket, sc::make_frames(ready_message(config_)), wire::IoMode::kBlock,
                    config_.framing);
  int64_t next_beat = steady_ns();
  sc::WorkerTokens tokens;
  while (!stop_.load(std::memory_order_relaxed)) {
    wire::Poller poller;
    poller.add(socket);
    if (!poller.poll(10).ok()) break;
    for (;;) {
      wire::Received m = wire::recv_frames(socket, wire::RecvLimits{});
      if (m.status != wire::RecvStatus::kMessage) break;
      auto parsed = sc::parse_frames(m.envelope.frames, sc::Direction::kBrokerToWorker);
      if (!parsed.ok()) continue;
      if (std::holds_alternative<sc::BrokerHeartbeat>(*parsed)) {
        state_.store(1);
        continue;
      }
      auto* dispatch = std::get_if<sc::Dispatch>(&*parsed);
      if (dispatch == nullptr) continue;
      int64_t received = steady_ns();
      tokens.entries.clear();
      for (uint32_t i = 0; i < config_.n_tokens; ++i) {
        tokens.entries.push_back(sc::TokenEntry{.job_id = dispatch->job_id,
                                                .attempt = dispatch->attempt,
                                                .seq = i,
                                                .token = static_cast<int32_t>(i),
                                                .text = token_texts_[i]});
      }
      wire::send_frames(socket, sc::make_frames(tokens), wire::IoMode::kBlock, config_.framing);
      sc::WorkerDone done{.job_id = dispatch->job_id,
                          .attempt = dispatch->attempt,
                          .device = dispatch->device,
                          .usage = {.prompt_tokens = 1, .completion_tokens = config_.n_tokens},
                          .finish_reason = "length"};
      int64_t done_sent = steady_ns();
      wire::send_frames(socket, sc::make_frames(done), wire::IoMode::kBlock, config_.framing);
      jobs_.fetch_add(1, std::memory_order_relaxed);
      if (config_.track_latency) {
        times_[dispatch->job_id] =
            WorkerJobTimes{received - parse_ns(dispatch->request.prompt), done_sent};
      }
    }
    if (steady_ns() >= next_beat) {  // keep the broker from expiring an idle worker
      next_beat = steady_ns() + 300'000'000;
      sc::WorkerHeartbeat beat{.worker_id = config_.id};
      for (uint32_t i = 0; i < config_.devices; ++i) {
        beat.devices.push_back(sc::DeviceLoad{.index = static_cast<int32_t>(i)});
      }
      wire::send_frames(socket, sc::make_frames(beat), wire::IoMode::kBlock, config_.framing);
    }
  }
  wire::send_frames(
      socket,
      sc::make_frames(sc::WorkerDisconnect{.worker_id = config_.id, .reason = "bench over"}),
      wire::IoMode::kBlock, config_.framing);
}

}  // namespace rs::bench
