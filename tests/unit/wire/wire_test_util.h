// Helpers shared by the rs_wire tests: a ROUTER bound to an ephemeral loopback port and
// bounded waits, so no test can hang. Test thread only.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <zmq.hpp>

#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::wire::testing {

// Waits up to timeout_ms for the socket to become readable, then receives one message.
// kWouldBlock when nothing came in time.
inline Received recv_within(zmq::socket_t& socket, const RecvLimits& limits,
                            long timeout_ms = 1000) {
  Poller poller;
  poller.add(socket);
  Result<int> ready = poller.poll(timeout_ms);
  if (!ready.ok() || *ready == 0) return Received{};
  return recv_frames(socket, limits);
}

inline RecvLimits router_limits() {
  RecvLimits limits;
  limits.n_routing = 1;
  return limits;
}

struct RouterDealer {
  zmq::context_t context;
  zmq::socket_t router;
  zmq::socket_t dealer;
  std::string endpoint;

  explicit RouterDealer(const std::string& dealer_id = "dealer-1",
                        const std::string& bind_to = "tcp://127.0.0.1:*",
                        RouterOptions router_options = {}) {
    auto r = make_router(context, router_options);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    router = std::move(r).value();
    auto bound = bind_endpoint(router, bind_to);
    EXPECT_TRUE(bound.ok()) << bound.status().to_string();
    endpoint = bound.ok() ? *bound : "";
    DealerOptions options;
    options.routing_id = dealer_id;
    auto d = make_dealer(context, options);
    EXPECT_TRUE(d.ok()) << d.status().to_string();
    dealer = std::move(d).value();
    Status connected = connect_endpoint(dealer, endpoint);
    EXPECT_TRUE(connected.ok()) << connected.to_string();
  }
};

}  // namespace rs::wire::testing
