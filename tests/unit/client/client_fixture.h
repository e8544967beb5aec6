// Fixture for rs_client tests: the brokerloop fixture (real redis-server, in-process
// BrokerLoop) plus a scripted worker on its own thread that answers DISPATCH like an engine
// stepping a batch: one WORKER_TOKENS per step with the next token of every running job
// (token = 100 + seq, text "t<seq>"), WORKER_DONE after max_tokens. `hold` keeps dispatched
// jobs without tokens until released; CANCEL_JOB ends a job "cancelled".
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../brokerloop/broker_fixture.h"
#include "rs/client/client.h"

namespace rs::client::testing {

namespace sc = rs::schemas;

class ScriptedWorker {
 public:
  ScriptedWorker(std::unique_ptr<broker::testing::Peer> peer, std::string id, uint32_t slots)
      : peer_(std::move(peer)), id_(std::move(id)), slots_(slots) {
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedWorker() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::atomic<bool> hold{false};
  std::atomic<int> dispatched{0};

 private:
  struct Running {
    sc::Dispatch d;
    uint64_t next = 0;
  };
  void run() {
    auto last_beat = std::chrono::steady_clock::now();
    while (!stop_.load()) {
      // Take every message already here (or wait a little when idle).
      long wait_ms = running_.empty() || hold.load() ? 5 : 0;
      while (auto m = peer_->recv(wait_ms)) {
        on_message(*m);
        wait_ms = 0;
      }
      if (!hold.load()) step();
      auto now = std::chrono::steady_clock::now();
      if (now - last_beat > std::chrono::milliseconds(200)) {
        last_beat = now;
        auto n = static_cast<uint32_t>(running_.size());
        peer_->send(sc::WorkerHeartbeat{
            .worker_id = id_,
            .devices = {sc::DeviceLoad{.index = 0,
                                        .free_slots = slots_ > n ? slots_ - n : 0,
                                        .running = n,
                                        .has_models = false,
                                        .models = {}}}});
      }
    }
  }
  void on_message(const sc::Message& m) {
    if (const auto* d = std::get_if<sc::Dispatch>(&m)) {
      running_.push_back(Running{*d, 0});
      dispatched.fetch_add(1);
    } else if (const auto* c = std::get_if<sc::CancelJob>(&m)) {
      for (size_t i = 0; i < running_.size(); ++i) {
        if (running_[i].d.job_id != c->job_id) continue;
        finish(running_[i], "cancelled");
        running_.erase(running_.begin() + static_cast<long>(i));
        break;
      }
    }
  }
  void step() {
    if (running_.empty()) return;
    sc::WorkerTokens tokens;
    for (Running& r : running_) {
      uint64_t s = r.next++;
      tokens.entries.push_back(sc::TokenEntry{.job_id = r.d.job_id, .attempt = r.d.attempt, .seq = s,
                                              .token = static_cast<int32_t>(100 + s),
                                              .text = std::string("t").append(std::to_string(s))});
    }
    peer_->send(tokens);
    std::vector<Running> still;
    for (Running& r : running_) {
      if (r.next >= r.d.request.max_tokens) {
        finish(r, "length");
      } else {
        still.push_back(std::move(r));
      }
    }
    running_.swap(still);
  }
  void finish(const Running& r, const char* reason) {
    peer_->send(sc::WorkerDone{.job_id = r.d.job_id, .attempt = r.d.attempt, .device = r.d.device,
                               .usage = sc::Usage{.prompt_tokens = 5,
                                                  .completion_tokens = static_cast<uint32_t>(r.next)},
                               .finish_reason = reason});
  }

  std::unique_ptr<broker::testing::Peer> peer_;
  std::string id_;
  uint32_t slots_;
  std::vector<Running> running_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class ClientTest : public broker::testing::BrokerLoopTest {
 protected:
  void TearDown() override {
    scripted_.clear();
    BrokerLoopTest::TearDown();
  }
  // A scripted worker serving `model`, registered with the broker.
  ScriptedWorker& scripted(const std::string& id, uint32_t slots, const std::string& model = "m") {
    scripted_.push_back(std::make_unique<ScriptedWorker>(worker(id, slots, model), id, slots));
    return *scripted_.back();
  }
  std::unique_ptr<Client> connect(int timeout_ms = 5000) {
    ClientOptions o;
    o.endpoint = loop_->client_endpoint();
    o.request_timeout_ms = timeout_ms;
    auto c = Client::connect(o);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  static sc::SubmitRequest request(uint32_t max_tokens, bool stream = true) {
    sc::SubmitRequest r;
    r.model = "m";
    r.prompt = "hello";
    r.max_tokens = max_tokens;
    r.stream = stream;
    return r;
  }
  // Waits for a job, collecting its token seqs (and checking each text).
  static std::vector<uint64_t> wait_seqs(Client& c, const std::string& job, sc::JobRecord* out = nullptr) {
    std::vector<uint64_t> seqs;
    auto rec = c.wait(job, [&](const sc::TokenEntry& e) {
      EXPECT_EQ(e.job_id, job);
      EXPECT_EQ(e.text, std::string("t").append(std::to_string(e.seq)));
      seqs.push_back(e.seq);
    }, 10000);
    EXPECT_TRUE(rec.ok()) << rec.status().to_string();
    if (rec.ok() && out != nullptr) *out = *rec;
    return seqs;
  }
  static std::vector<uint64_t> range(uint64_t from, uint64_t to) {
    std::vector<uint64_t> v;
    for (uint64_t s = from; s < to; ++s) v.push_back(s);
    return v;
  }

  std::vector<std::unique_ptr<ScriptedWorker>> scripted_;
};

// Polls `pred` every few ms for up to timeout_ms.
template <typename Pred>
bool eventually(Pred pred, int timeout_ms = 5000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

}  // namespace rs::client::testing
