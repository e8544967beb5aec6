// GatewayContext: what every connection and exchange of one Gateway shares (options, the
// broker bridge, the key cache, the live sessions, the jobs being watched). Lives on and is
// touched only by the gateway's Asio thread, except `bridge` (thread-safe post()).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "asio.h"
#include "broker_bridge.h"
#include "gateway_metrics.h"
#include "key_cache.h"
#include "rs/gateway/gateway.h"

namespace rs::gateway {

class HttpSession;

struct GatewayContext {
  boost::asio::io_context& io;
  GatewayOptions options;
  BrokerBridge& bridge;
  KeyCache* keys = nullptr;  // null with --no-auth
  boost::asio::ssl::context* tls = nullptr;  // null without --tls-cert: plain HTTP
  GatewayMetrics* metrics = nullptr;
  std::unordered_set<HttpSession*> sessions;
  std::unordered_map<std::string, int> watchers;  // job id -> streams of it open here
  std::mt19937_64 rng{std::random_device{}()};
};

// A bridge Listener that runs fn(event) on the Asio thread while `owner` lives.
template <typename T, typename Fn>
Listener make_listener(GatewayContext& context, const std::shared_ptr<T>& owner, Fn fn) {
  std::weak_ptr<T> weak = owner;
  boost::asio::io_context* io = &context.io;
  return [io, weak, fn](BridgeEvent event) mutable {
    boost::asio::post(*io, [weak, fn, event = std::move(event)]() mutable {
      if (auto self = weak.lock()) fn(*self, std::move(event));
    });
  };
}

// Cancels a job after the disconnect grace unless a stream of it is open here by then.
void cancel_after_grace(GatewayContext& context, const std::string& job_id);

}  // namespace rs::gateway
