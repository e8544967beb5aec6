// Client::Impl: socket I/O, request correlation and demultiplexing of broker messages.
#include "client_impl.h"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <variant>

#include "rs/schemas/errors.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"

namespace rs::client {

namespace {

long remaining_ms(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<long>(left);
}

template <typename T>
constexpr bool kIsReply =
    std::is_same_v<T, schemas::Accepted> || std::is_same_v<T, schemas::Rejected> ||
    std::is_same_v<T, schemas::StatusReply> || std::is_same_v<T, schemas::WorkersReply> ||
    std::is_same_v<T, schemas::Pong> || std::is_same_v<T, schemas::ErrorReply>;

}  // namespace

Status reply_error(const schemas::Message& reply) {
  if (const auto* r = std::get_if<schemas::Rejected>(&reply))
    return schemas::wire_error(r->code, r->message);
  if (const auto* e = std::get_if<schemas::ErrorReply>(&reply))
    return schemas::wire_error(e->code, e->message);
  return Status();
}

Status Client::Impl::open() {
  if (options.endpoint.empty()) return invalid_argument("client: empty broker endpoint");
  // Reconnect attempts at most a second apart, so a broker that comes back (restarted by
  // `ringserve up`) is found again well within a liveness window.
  auto dealer = wire::make_dealer(
      context,
      wire::DealerOptions{.reconnect_ivl_max_ms = 1000, .curve = to_wire_keys(options.curve)});
  if (!dealer.ok()) return dealer.status();
  socket = std::move(dealer).value();
  // Without a monitor (it failed to open) reconnects go unnoticed: a wait then relies on the
  // broker's own resends and on the liveness check. One context per client: a fixed name.
  (void)monitor.start(context, socket, "client");
  return wire::connect_endpoint(socket, options.endpoint);
}

void Client::Impl::poll_link() {
  const wire::LinkEvents e = monitor.poll();
  if (e.refused) refused = true;
  if (e.disconnected) disconnected = true;
  if (e.connected && disconnected) {
    disconnected = false;
    ++reconnects;
  }
}

void Client::Impl::send_liveness_ping() {
  const uint64_t id = next_request_id++;  // not pending: its PONG is dropped on arrival
  (void)send(schemas::make_frames(schemas::Ping{.request_id = id}), Clock::now());
}

Status Client::Impl::send_subscribe(const std::string& job_id, uint64_t from_seq) {
  const uint64_t id = next_request_id++;
  const Clock::time_point deadline = request_deadline();
  schemas::SubscribeRequest request{.request_id = id, .job_id = job_id, .from_seq = from_seq};
  pending.insert(id);
  if (Status s = send(schemas::make_frames(request), deadline); !s.ok()) {
    pending.erase(id);
    return s;
  }
  // SUBSCRIBE has no positive ack: a PING behind it on the same socket is answered after
  // any ERROR for it, so once the PONG is here the subscription stands.
  const uint64_t ping_id = next_request_id++;
  pending.insert(ping_id);
  Status sent = send(schemas::make_frames(schemas::Ping{.request_id = ping_id}), deadline);
  auto pong = sent.ok() ? await_reply(ping_id, deadline) : Result<schemas::Message>(sent);
  pending.erase(ping_id);
  auto it = replies.find(id);
  Status error = it != replies.end() ? reply_error(it->second) : Status();
  if (it != replies.end()) replies.erase(it);
  pending.erase(id);
  return error.ok() ? pong.status() : error;
}

Status Client::Impl::unreachable() {
  poll_link();
  if (refused) {  // ZeroMQ gave up on the connection: waiting longer would not help
    return schemas::wire_error(
        schemas::ErrorCode::kPermissionDenied,
        "the broker at " + options.endpoint +
            " refused the handshake: is this key on its --allow-clients list, and the broker key "
            "its public key? (docs/SECURITY.md)");
  }
  return schemas::wire_error(schemas::ErrorCode::kUnavailable,
                             "broker unreachable at " + options.endpoint);
}

Clock::time_point Client::Impl::request_deadline() const {
  int ms = options.request_timeout_ms < 0 ? 0 : options.request_timeout_ms;
  return Clock::now() + std::chrono::milliseconds(ms);
}

Status Client::Impl::send(const schemas::Frames& frames, Clock::time_point deadline) {
  for (;;) {
    switch (wire::send_frames(socket, frames, wire::IoMode::kDontWait, wire::Framing::kPacked)) {
      case wire::SendStatus::kSent:
        return Status();
      case wire::SendStatus::kWouldBlock:
        break;
      case wire::SendStatus::kClosed:
        return schemas::wire_error(schemas::ErrorCode::kUnavailable, "client socket closed");
      default:
        return schemas::wire_error(schemas::ErrorCode::kInternal, "client: send failed");
    }
    if (Clock::now() >= deadline) return unreachable();
    wire::Poller poller;
    poller.add(socket, ZMQ_POLLOUT);
    auto ready = poller.poll(remaining_ms(deadline));
    if (!ready.ok()) return ready.status();
  }
}

Result<bool> Client::Impl::pump(Clock::time_point deadline) {
  // Drain what is already queued before blocking in poll.
  wire::Received r = wire::recv_frames(socket, wire::RecvLimits{});
  if (r.status == wire::RecvStatus::kWouldBlock) {
    wire::Poller poller;
    poller.add(socket, ZMQ_POLLIN);
    auto ready = poller.poll(remaining_ms(deadline));
    if (!ready.ok()) return ready.status();
    if (*ready == 0) return Clock::now() < deadline;  // EINTR early: try again
    r = wire::recv_frames(socket, wire::RecvLimits{});
  }
  switch (r.status) {
    case wire::RecvStatus::kMessage:
      last_heard = Clock::now();
      break;
    case wire::RecvStatus::kClosed:
      return schemas::wire_error(schemas::ErrorCode::kUnavailable, "client socket closed");
    default:
      return true;  // rejected or spurious wake-up: nothing to dispatch
  }
  auto message =
      schemas::parse_frames(r.envelope.frames, schemas::Direction::kBrokerToClient, options.limits);
  if (message.ok()) dispatch(std::move(message).value());
  return true;
}

void Client::Impl::dispatch(schemas::Message message) {
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, schemas::TokenBatch>) {
          for (auto& e : m.entries) streams.add_token(std::move(e));
        } else if constexpr (std::is_same_v<T, schemas::Done>) {
          streams.add_done(std::move(m.record));
        } else if constexpr (std::is_same_v<T, schemas::ErrorReply>) {
          // `lagged`: this client fell behind on a job's stream; wait() subscribes again.
          if (m.code == schemas::ErrorCode::kLagged) {
            if (JobStream* s = streams.find(m.job_id)) s->lagged = true;
          } else if (pending.count(m.request_id) != 0) {
            replies.insert_or_assign(m.request_id, message);
          }
        } else if constexpr (kIsReply<T>) {
          // A reply to a request that timed out already is dropped.
          if (pending.count(m.request_id) != 0) replies.insert_or_assign(m.request_id, message);
        }
        // Anything else (a broker heartbeat) is not for clients: skipped.
      },
      message);
}

Result<schemas::Message> Client::Impl::await_reply(uint64_t id, Clock::time_point deadline) {
  for (;;) {
    auto it = replies.find(id);
    if (it != replies.end()) {
      schemas::Message reply = std::move(it->second);
      replies.erase(it);
      pending.erase(id);
      if (Status s = reply_error(reply); !s.ok()) return s;
      return reply;
    }
    // In slices, so a refused handshake (ZeroMQ will not retry it) ends the wait at once.
    auto got = pump(std::min(deadline, Clock::now() + std::chrono::milliseconds(200)));
    if (!got.ok()) {
      pending.erase(id);
      return got.status();
    }
    if (*got) continue;
    poll_link();
    if (refused || Clock::now() >= deadline) {
      pending.erase(id);
      return unreachable();
    }
  }
}

}  // namespace rs::client
