// BrokerBridge: poll the broker socket, apply queued commands and messages to the core.
#include "broker_bridge.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace rs::gateway {

namespace {
constexpr int kFirstLinkWaitMs = 2000;
}  // namespace

BrokerBridge::BrokerBridge(client::ClientOptions client_options, BridgeOptions options)
    : client_options_(std::move(client_options)), options_(options) {}

BrokerBridge::~BrokerBridge() {
  stop();
}

int64_t BrokerBridge::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Status BrokerBridge::start() {
  RS_ASSIGN_OR_RETURN(client_, client::AsyncClient::connect(client_options_));
  waker_ = client_->make_waker();
  client::AsyncClient* c = client_.get();
  core_ =
      std::make_unique<BridgeCore>(options_, [c](const BrokerRequest& request) -> Result<uint64_t> {
        return std::visit(
            [c](const auto& r) -> Result<uint64_t> {
              using T = std::decay_t<decltype(r)>;
              if constexpr (std::is_same_v<T, schemas::SubmitRequest>)
                return c->submit(r);
              else if constexpr (std::is_same_v<T, schemas::SubscribeRequest>)
                return c->subscribe(r.job_id, r.from_seq);
              else if constexpr (std::is_same_v<T, schemas::StatusRequest>)
                return c->status(r.job_id);
              else if constexpr (std::is_same_v<T, schemas::CancelRequest>)
                return c->cancel(r.job_id);
              else if constexpr (std::is_same_v<T, schemas::WorkersRequest>)
                return c->workers();
              else
                return c->ping();
            },
            request);
      });
  // Sends fail while the link is down (ZMQ_IMMEDIATE): give the first connection a moment
  // so requests right after start-up do not see 503. A broker that is not there yet is
  // not an error: requests get 503 until it comes.
  if (!client_->await_link(kFirstLinkWaitMs).ok()) {
    spdlog::warn("gateway: no broker at {} yet: requests get 503 until it comes",
                 client_->endpoint());
  }
  thread_ = std::thread([this] { run(); });
  return Status();
}

void BrokerBridge::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (waker_) waker_->wake();
  }
  thread_.join();
}

void BrokerBridge::post(BridgeCommand command) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(command));
  if (waker_) waker_->wake();
}

void BrokerBridge::run() {
  int64_t wait_ms = 0;
  bool restore_pending = false;  // the link came back; re-subscribe once writable
  while (!stop_.load(std::memory_order_relaxed)) {
    if (Status s = client_->wait(static_cast<long>(wait_ms)); !s.ok()) {
      spdlog::error("gateway: broker socket: {}", s.to_string());
      break;
    }
    std::deque<BridgeCommand> commands;
    {
      std::lock_guard<std::mutex> lock(mu_);
      commands.swap(queue_);
    }
    const int64_t now = now_ms();
    const auto link = client_->link_change();
    if (link.refused) {
      spdlog::error("gateway: the broker at {} refused the handshake (is the gateway's key on its "
                    "--allow-clients list, and --broker-key the broker's public key?); trying again in {} ms",
                    client_->endpoint(), link.retry_in_ms);
    }
    if (link.reopened && !link.reopened->ok()) {
      spdlog::error("gateway: reopening the broker socket: {}", link.reopened->to_string());
    }
    if (link.lost) {
      if (core_->broker_up())
        spdlog::warn("gateway: lost the link to the broker at {}", client_->endpoint());
      core_->on_link_lost();
    }
    if (link.lost) restore_pending = false;
    if (link.restored && !core_->broker_up()) restore_pending = true;
    // Subscribing again only once a send is taken (the handshake may lag the link event).
    if (restore_pending && client_->writable()) {
      restore_pending = false;
      spdlog::info("gateway: link to the broker is back; subscribing to {} stream(s) again",
                   core_->jobs());
      core_->on_link_restored(now);
    }
    for (auto& c : commands) core_->on_command(std::move(c), now);
    for (int i = 0; i < 4096; ++i) {
      auto m = client_->receive();
      if (!m.ok()) {
        spdlog::error("gateway: broker socket: {}", m.status().to_string());
        break;
      }
      if (!m->has_value()) break;
      core_->on_message(std::move(**m), now);
    }
    wait_ms = core_->on_tick(now_ms());
    if (restore_pending) wait_ms = std::min<int64_t>(wait_ms, 10);
    if (auto reopen = client_->reopen_in_ms()) wait_ms = std::min<int64_t>(wait_ms, *reopen + 1);
    broker_up_.store(core_->broker_up(), std::memory_order_relaxed);
  }
}

}  // namespace rs::gateway
