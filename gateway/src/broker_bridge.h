// BrokerBridge: the gateway's one thread that talks to the broker. It owns an AsyncClient
// and a BridgeCore; HTTP threads hand it commands through a queue (post() is thread-safe)
// and get BridgeEvents back through their Listener, called on the bridge thread.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "bridge_core.h"
#include "rs/client/async_client.h"

namespace rs::gateway {

class BrokerBridge {
 public:
  BrokerBridge(client::ClientOptions client_options, BridgeOptions options);
  ~BrokerBridge();
  Status start();
  void stop();

  // Any thread.
  void post(BridgeCommand command);
  uint64_t new_listener_id() { return next_listener_.fetch_add(1) + 1; }
  bool broker_up() const { return broker_up_.load(std::memory_order_relaxed); }

 private:
  void run();
  int64_t now_ms() const;

  client::ClientOptions client_options_;
  BridgeOptions options_;
  std::unique_ptr<client::AsyncClient> client_;
  std::unique_ptr<BridgeCore> core_;
  std::mutex mu_;  // guards queue_ and waker_
  std::deque<BridgeCommand> queue_;
  std::unique_ptr<client::AsyncClient::Waker> waker_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> broker_up_{true};
  std::atomic<uint64_t> next_listener_{0};
  std::thread thread_;
};

}  // namespace rs::gateway
