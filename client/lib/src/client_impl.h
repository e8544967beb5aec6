// Client::Impl: the Client's socket, request_id correlation and message dispatch.
// Replies to pending requests are kept by request_id; TOKENS / DONE go to JobStreams.
// Owned by the Client; the Client's one thread alone calls it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <zmq.hpp>

#include "job_streams.h"
#include "rs/client/client.h"
#include "rs/core/result.h"
#include "rs/schemas/frames.h"
#include "rs/wire/curve.h"
#include "rs/wire/link_monitor.h"

namespace rs::client {

// ClientOptions::curve as the socket helpers take it (endpoint.cpp).
wire::CurveClientKeys to_wire_keys(const CurveCredentials& credentials);

using Clock = std::chrono::steady_clock;

struct Client::Impl {
  ClientOptions options;
  zmq::context_t context{1};
  zmq::socket_t socket;          // declared after context: closed before it
  wire::LinkMonitor monitor;     // the socket's connects / disconnects
  bool disconnected = false;     // the socket lost its connection and has not got it back
  bool refused = false;          // a security handshake failed (ZeroMQ will not retry it)
  uint64_t reconnects = 0;       // connections made again after a disconnect
  Clock::time_point last_heard;  // when the last message from the broker arrived
  uint64_t next_request_id = 1;
  JobStreams streams;
  std::unordered_set<uint64_t> pending;                    // request ids awaiting a reply
  std::unordered_map<uint64_t, schemas::Message> replies;  // replies to pending requests

  Status open();
  // The error for a broker that did not answer in time.
  Status unreachable();  // unavailable; permission_denied once a handshake was refused
  Clock::time_point request_deadline() const;

  // Sends one message, waiting for room until the deadline.
  Status send(const schemas::Frames& frames, Clock::time_point deadline);
  // Receives and dispatches at most one message, waiting until the deadline.
  // false: nothing arrived in time.
  Result<bool> pump(Clock::time_point deadline);
  void dispatch(schemas::Message message);
  // Reads the monitor's pending events (never blocks): counts reconnects.
  void poll_link();
  // Sends SUBSCRIBE for a job from from_seq and confirms it with a PING behind it.
  Status send_subscribe(const std::string& job_id, uint64_t from_seq);
  // Sends a PING whose PONG nobody awaits (it only refreshes last_heard); never blocks.
  void send_liveness_ping();

  // Sends a request (its request_id is set here) and waits for the reply carrying it.
  // REJECTED / ERROR replies come back as wire errors; silence as unreachable().
  template <typename T>
  Result<schemas::Message> request(T message);
  // The reply to `id` once it arrived (erased from replies and pending).
  Result<schemas::Message> await_reply(uint64_t id, Clock::time_point deadline);
};

template <typename T>
Result<schemas::Message> Client::Impl::request(T message) {
  const uint64_t id = next_request_id++;
  message.request_id = id;
  const Clock::time_point deadline = request_deadline();
  pending.insert(id);
  if (Status s = send(schemas::make_frames(message), deadline); !s.ok()) {
    pending.erase(id);
    return s;
  }
  return await_reply(id, deadline);
}

// The error carried by a REJECTED / ERROR reply, else ok.
Status reply_error(const schemas::Message& reply);

}  // namespace rs::client
