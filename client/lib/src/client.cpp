// Client: the public operations over Client::Impl (requests, waits, subscriptions).
#include "rs/client/client.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <variant>

#include "client_impl.h"
#include "rs/schemas/errors.h"

namespace rs::client {

namespace {

Status unexpected_reply(const char* what) {
  return schemas::wire_error(schemas::ErrorCode::kInternal,
                             std::string("unexpected reply to ") + what);
}

template <typename T>
Result<T> reply_as(Result<schemas::Message> reply, const char* what) {
  if (!reply.ok()) return reply.status();
  if (auto* t = std::get_if<T>(&reply.value())) return std::move(*t);
  return unexpected_reply(what);
}

}  // namespace

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::connect(ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  RS_RETURN_IF_ERROR(impl->open());
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

const std::string& Client::endpoint() const { return impl_->options.endpoint; }

Result<uint64_t> Client::ping() {
  RS_ASSIGN_OR_RETURN(auto pong, reply_as<schemas::Pong>(impl_->request(schemas::Ping{}), "PING"));
  return pong.broker_time_ms;
}

Result<schemas::Accepted> Client::submit(schemas::SubmitRequest request) {
  // Refused here as the broker would: a frame over the broker's size limit would not even
  // reach it (ZeroMQ drops the connection) and the caller would see a timeout instead.
  if (request.prompt.size() > impl_->options.limits.max_prompt_bytes) {
    return schemas::wire_error(schemas::ErrorCode::kPromptTooLong,
                               "prompt of " + std::to_string(request.prompt.size()) + " bytes > " +
                                   std::to_string(impl_->options.limits.max_prompt_bytes));
  }
  RS_ASSIGN_OR_RETURN(auto accepted,
                      reply_as<schemas::Accepted>(impl_->request(std::move(request)), "SUBMIT"));
  // A duplicate names a job submitted earlier (maybe elsewhere): its tokens and DONE are
  // not sent to this submission, so a stream is opened only for a new job.
  if (!accepted.duplicate) impl_->streams.open(accepted.job_id, 0);
  return accepted;
}

Status Client::subscribe(const std::string& job_id, uint64_t from_seq) {
  impl_->streams.open(job_id, from_seq);
  Status error = impl_->send_subscribe(job_id, from_seq);
  if (!error.ok()) impl_->streams.collect(job_id);
  return error;
}

namespace {

Status not_answering(const std::string& endpoint, int window_ms) {
  const std::string window = window_ms % 1000 == 0 ? std::to_string(window_ms / 1000) + " s"
                                                   : std::to_string(window_ms) + " ms";
  return schemas::wire_error(schemas::ErrorCode::kUnavailable,
                             "broker at " + endpoint + " not answering for " + window);
}

}  // namespace

// The liveness state of one wait(): when to ping, when the broker counts as gone, and the
// reconnect count the job's subscription is known to stand on.
struct Client::Liveness {
  int window_ms = 0;
  int ping_every_ms = 0;
  Clock::time_point next_ping;
  uint64_t reconnects_seen = 0;

  Liveness(int liveness_ms, uint64_t reconnects)
      : window_ms(liveness_ms),
        ping_every_ms(std::clamp(liveness_ms / 5, 100, 1000)),
        next_ping(Clock::now() + std::chrono::milliseconds(ping_every_ms)),
        reconnects_seen(reconnects) {}
  Clock::time_point gone_at(Clock::time_point last_heard) const {
    return last_heard + std::chrono::milliseconds(window_ms);
  }
};

// One liveness step of wait(): pings when due, fails once the broker is silent for the
// window, and subscribes again from next_seq after the socket reconnected. `until` is
// lowered to the next liveness event.
Status Client::check_liveness(const std::string& job_id, Liveness& live,
                              std::chrono::steady_clock::time_point& until) {
  Impl& im = *impl_;
  const Clock::time_point now = Clock::now();
  if (now >= live.gone_at(im.last_heard)) return not_answering(im.options.endpoint, live.window_ms);
  if (now >= live.next_ping) {
    im.send_liveness_ping();
    live.next_ping = now + std::chrono::milliseconds(live.ping_every_ms);
  }
  im.poll_link();
  if (im.reconnects != live.reconnects_seen && !im.disconnected) {
    const JobStream* stream = im.streams.find(job_id);
    Status s = im.send_subscribe(job_id, stream != nullptr ? stream->next_seq : 0);
    if (s.ok()) {
      live.reconnects_seen = im.reconnects;
    } else if (schemas::wire_error_of(s) != schemas::ErrorCode::kUnavailable) {
      return s;  // e.g. not_found: the broker there does not know the job
    }
  }
  until = std::min({until, live.next_ping, live.gone_at(im.last_heard)});
  return Status();
}

Result<schemas::JobRecord> Client::wait(const std::string& job_id, const TokenCallback& on_token,
                                        int timeout_ms) {
  Impl& im = *impl_;
  if (!im.streams.has(job_id)) {
    return schemas::wire_error(schemas::ErrorCode::kNotFound,
                               "job '" + job_id + "' was not submitted or subscribed on this client");
  }
  const bool limited = timeout_ms >= 0;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(limited ? timeout_ms : 0);
  std::optional<Liveness> live;
  if (im.options.liveness_ms > 0) {
    im.last_heard = Clock::now();
    live.emplace(im.options.liveness_ms, im.reconnects);
  }
  std::vector<schemas::TokenEntry> ready;
  for (;;) {
    JobStream* stream = im.streams.find(job_id);
    if (stream == nullptr) return schemas::wire_error(schemas::ErrorCode::kInternal, "stream lost");
    ready.clear();
    im.streams.take_ready(*stream, ready);
    for (const auto& e : ready) {
      if (on_token) on_token(e);
    }
    stream = im.streams.find(job_id);  // the callback may not touch the client, but be safe
    if (stream == nullptr) return schemas::wire_error(schemas::ErrorCode::kInternal, "stream lost");
    if (stream->done.has_value()) {
      schemas::JobRecord record = std::move(*stream->done);
      im.streams.collect(job_id);
      return record;
    }
    if (!stream->error.ok()) {
      Status error = stream->error;
      im.streams.collect(job_id);
      return error;
    }
    if (stream->lagged) {  // the broker dropped this stream: catch up from the log
      stream->lagged = false;
      RS_RETURN_IF_ERROR(im.send_subscribe(job_id, stream->next_seq));
      continue;
    }
    // Wait in slices when unlimited so a long job never overflows the deadline arithmetic.
    Clock::time_point until = limited ? deadline : Clock::now() + std::chrono::seconds(1);
    if (live) RS_RETURN_IF_ERROR(check_liveness(job_id, *live, until));
    RS_ASSIGN_OR_RETURN(bool got, im.pump(until));
    if (!got && limited && Clock::now() >= deadline) {
      return schemas::wire_error(schemas::ErrorCode::kTimeout,
                                 "job '" + job_id + "' not done within " + std::to_string(timeout_ms) + " ms");
    }
  }
}

Result<schemas::JobRecord> Client::status(const std::string& job_id) {
  RS_ASSIGN_OR_RETURN(auto reply, reply_as<schemas::StatusReply>(
                                      impl_->request(schemas::StatusRequest{.job_id = job_id}), "STATUS"));
  return std::move(reply.record);
}

Result<schemas::JobRecord> Client::cancel(const std::string& job_id) {
  RS_ASSIGN_OR_RETURN(auto reply, reply_as<schemas::StatusReply>(
                                      impl_->request(schemas::CancelRequest{.job_id = job_id}), "CANCEL"));
  return std::move(reply.record);
}

Result<std::vector<schemas::DeviceStatus>> Client::workers() {
  RS_ASSIGN_OR_RETURN(auto reply, reply_as<schemas::WorkersReply>(
                                      impl_->request(schemas::WorkersRequest{}), "WORKERS"));
  return std::move(reply.devices);
}

}  // namespace rs::client
