// Socket helpers: ROUTER/DEALER sockets with our options, bind (reading the real endpoint
// back) and connect. The returned zmq::socket_t is owned by the caller and belongs to the
// thread that uses it (it may be handed to another thread once, before first use, across
// a thread start or other full memory barrier). Never throws; errors come back as Status.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "rs/core/result.h"
#include "rs/wire/curve.h"

namespace rs::wire {

struct RouterOptions {
  int64_t max_msg_bytes = (4 << 20) + 4096;  // ZMQ_MAXMSGSIZE per frame; larger -> peer dropped
  int sndhwm = 100000;  // messages queued per peer before sends report kWouldBlock
  int rcvhwm = 100000;
  int linger_ms = 0;      // close never waits for unsent messages
  bool mandatory = true;  // ZMQ_ROUTER_MANDATORY: unknown peer -> kUnroutable, not a drop
  bool handover = true;   // ZMQ_ROUTER_HANDOVER: a reconnecting id takes over its old pipe
  // CURVE server: a secret key makes every connection CURVE, authenticated by the ZAP
  // handler for zap_domain (rs/wire/curve.h). "" = plain (NULL mechanism).
  std::string curve_secret_key;
  std::string zap_domain;
};

struct DealerOptions {
  std::string routing_id;           // ZMQ_ROUTING_ID; empty: ZeroMQ picks one
  int reconnect_ivl_ms = 100;       // ZMQ_RECONNECT_IVL: first reconnect delay
  int reconnect_ivl_max_ms = 5000;  // ZMQ_RECONNECT_IVL_MAX: ZeroMQ doubles up to this
  int64_t max_msg_bytes = (4 << 20) + 4096;
  int sndhwm = 100000;
  int rcvhwm = 100000;
  int linger_ms = 0;
  // ZMQ_IMMEDIATE: queue messages only on a completed connection (a send without one fails
  // at once instead of waiting in a pipe for whichever peer connects next).
  bool immediate = false;
  CurveClientKeys curve;  // set: a CURVE client of that server; empty: plain
};

Result<zmq::socket_t> make_router(zmq::context_t& context, const RouterOptions& options = {});
Result<zmq::socket_t> make_dealer(zmq::context_t& context, const DealerOptions& options = {});

// Binds and returns the endpoint actually bound (ZMQ_LAST_ENDPOINT), so
// "tcp://127.0.0.1:*" yields e.g. "tcp://127.0.0.1:41234". Address in use -> io_error.
Result<std::string> bind_endpoint(zmq::socket_t& socket, std::string_view endpoint);
Status connect_endpoint(zmq::socket_t& socket, std::string_view endpoint);
Status disconnect_endpoint(zmq::socket_t& socket, std::string_view endpoint);

}  // namespace rs::wire
