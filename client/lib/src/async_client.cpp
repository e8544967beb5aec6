// AsyncClient: non-blocking requests and one-at-a-time receive over one DEALER.
#include "rs/client/async_client.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <utility>

#include "rs/schemas/errors.h"
#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/heartbeat.h"
#include "rs/wire/link_monitor.h"
#include "rs/wire/poller.h"
#include "rs/wire/socket.h"
#include "rs/wire/wakeup.h"

namespace rs::client {

wire::CurveClientKeys to_wire_keys(const CurveCredentials& credentials);  // endpoint.cpp

struct AsyncClient::Impl {
  ClientOptions options;
  zmq::context_t context{1};
  zmq::socket_t socket;
  wire::LinkMonitor monitor;
  wire::WakeupReceiver wake_receiver;
  std::optional<wire::WakeupSender> wake_sender;  // handed out once by make_waker()
  uint64_t next_request_id = 1;
  uint64_t malformed = 0;
  // A refused handshake ends a ZeroMQ connection for good: the socket is opened anew once
  // reopen_at passes (500 ms, doubling to 30 s; reset by the next message received).
  wire::Backoff reopen_backoff{wire::BackoffOptions{.initial_ms = 500, .max_ms = 30000}};
  std::optional<std::chrono::steady_clock::time_point> reopen_at;

  // The DEALER (ZMQ_IMMEDIATE: while the link is down a send fails at once, unavailable,
  // instead of waiting in the pipe for a restarted broker, which would run a SUBMIT its
  // caller was told had failed), its link monitor, and the connect.
  Status open() {
    RS_ASSIGN_OR_RETURN(socket, wire::make_dealer(context, wire::DealerOptions{
                                                               .immediate = true,
                                                               .curve = to_wire_keys(options.curve)}));
    static std::atomic<uint64_t> next_monitor{0};
    RS_RETURN_IF_ERROR(monitor.start(context, socket, "rs-async-client-" + std::to_string(next_monitor++)));
    return wire::connect_endpoint(socket, options.endpoint);
  }

  template <typename T>
  Result<uint64_t> send(T message) {
    const uint64_t id = next_request_id++;
    message.request_id = id;
    switch (wire::send_frames(socket, schemas::make_frames(message), wire::IoMode::kDontWait,
                              wire::Framing::kPacked)) {
      case wire::SendStatus::kSent:
        return id;
      case wire::SendStatus::kWouldBlock:
        return schemas::wire_error(
            schemas::ErrorCode::kUnavailable,
            "broker unreachable at " + options.endpoint + " (send queue full)");
      default:
        return schemas::wire_error(schemas::ErrorCode::kUnavailable, "client socket closed");
    }
  }
};

namespace {

class SocketWaker final : public AsyncClient::Waker {
 public:
  explicit SocketWaker(wire::WakeupSender sender) : sender_(std::move(sender)) {}
  void wake() override { sender_.wake(); }

 private:
  wire::WakeupSender sender_;
};

}  // namespace

AsyncClient::AsyncClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AsyncClient::~AsyncClient() {
  if (impl_) impl_->monitor.stop();
}

Result<std::unique_ptr<AsyncClient>> AsyncClient::connect(ClientOptions options) {
  if (options.endpoint.empty()) return invalid_argument("client: empty broker endpoint");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  RS_RETURN_IF_ERROR(impl->open());
  RS_ASSIGN_OR_RETURN(auto pair, wire::make_wakeup_pair(impl->context));
  impl->wake_receiver = std::move(pair.receiver);
  impl->wake_sender = std::move(pair.sender);
  return std::unique_ptr<AsyncClient>(new AsyncClient(std::move(impl)));
}

Result<uint64_t> AsyncClient::submit(schemas::SubmitRequest request) {
  // Refused here as the broker would: an oversized frame would never reach it.
  if (request.prompt.size() > impl_->options.limits.max_prompt_bytes) {
    return schemas::wire_error(schemas::ErrorCode::kPromptTooLong,
                               "prompt of " + std::to_string(request.prompt.size()) + " bytes > " +
                                   std::to_string(impl_->options.limits.max_prompt_bytes));
  }
  return impl_->send(std::move(request));
}

Result<uint64_t> AsyncClient::subscribe(const std::string& job_id, uint64_t from_seq) {
  return impl_->send(schemas::SubscribeRequest{.job_id = job_id, .from_seq = from_seq});
}
Result<uint64_t> AsyncClient::cancel(const std::string& job_id) {
  return impl_->send(schemas::CancelRequest{.job_id = job_id});
}
Result<uint64_t> AsyncClient::status(const std::string& job_id) {
  return impl_->send(schemas::StatusRequest{.job_id = job_id});
}
Result<uint64_t> AsyncClient::workers() {
  return impl_->send(schemas::WorkersRequest{});
}
Result<uint64_t> AsyncClient::ping() {
  return impl_->send(schemas::Ping{});
}

Status AsyncClient::wait(long timeout_ms) {
  wire::Poller poller;
  poller.add(impl_->socket, ZMQ_POLLIN);
  poller.add(impl_->wake_receiver.socket(), ZMQ_POLLIN);
  auto ready = poller.poll(timeout_ms);
  if (!ready.ok()) return ready.status();
  if (poller.readable(1)) impl_->wake_receiver.drain();
  return Status();
}

Result<std::optional<schemas::Message>> AsyncClient::receive() {
  for (;;) {
    wire::Received r = wire::recv_frames(impl_->socket, wire::RecvLimits{});
    switch (r.status) {
      case wire::RecvStatus::kMessage:
        impl_->reopen_backoff.reset();
        break;
      case wire::RecvStatus::kWouldBlock:
        return std::optional<schemas::Message>();
      case wire::RecvStatus::kClosed:
        return schemas::wire_error(schemas::ErrorCode::kUnavailable, "client socket closed");
      default:
        ++impl_->malformed;
        continue;
    }
    auto message = schemas::parse_frames(r.envelope.frames, schemas::Direction::kBrokerToClient,
                                         impl_->options.limits);
    if (message.ok()) return std::optional<schemas::Message>(std::move(message).value());
    ++impl_->malformed;
  }
}

uint64_t AsyncClient::malformed() const {
  return impl_->malformed;
}

bool AsyncClient::writable() {
  wire::Poller poller;
  poller.add(impl_->socket, ZMQ_POLLOUT);
  auto ready = poller.poll(0);
  return ready.ok() && poller.writable(0);
}

Status AsyncClient::await_link(int timeout_ms) {
  for (int waited_ms = 0; waited_ms < timeout_ms; waited_ms += 10) {
    wire::Poller poller;
    poller.add(impl_->socket, ZMQ_POLLOUT);
    auto ready = poller.poll(10);
    if (!ready.ok()) return ready.status();
    if (poller.writable(0)) {
      (void)link_change();
      return Status();
    }
  }
  return schemas::wire_error(schemas::ErrorCode::kUnavailable,
                             "no link to the broker at " + impl_->options.endpoint);
}

AsyncClient::LinkChange AsyncClient::link_change() {
  const wire::LinkEvents e = impl_->monitor.poll();
  LinkChange change{.lost = e.disconnected, .restored = e.connected};
  const auto now = std::chrono::steady_clock::now();
  if (e.refused && !impl_->reopen_at) {
    change.refused = true;
    change.retry_in_ms = impl_->reopen_backoff.next_delay_ms();
    impl_->reopen_at = now + std::chrono::milliseconds(change.retry_in_ms);
  }
  if (impl_->reopen_at && now >= *impl_->reopen_at) {
    impl_->reopen_at.reset();
    impl_->monitor.stop();
    impl_->socket.close();
    change.reopened = impl_->open();
  }
  return change;
}

std::optional<long> AsyncClient::reopen_in_ms() const {
  if (!impl_->reopen_at) return std::nullopt;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*impl_->reopen_at -
                                                                    std::chrono::steady_clock::now());
  return std::max<long>(0, static_cast<long>(left.count()));
}

std::unique_ptr<AsyncClient::Waker> AsyncClient::make_waker() {
  if (!impl_->wake_sender) return nullptr;
  auto waker = std::make_unique<SocketWaker>(std::move(*impl_->wake_sender));
  impl_->wake_sender.reset();
  return waker;
}

const std::string& AsyncClient::endpoint() const {
  return impl_->options.endpoint;
}

}  // namespace rs::client
