// Client: the public operations over Client::Impl (requests, waits, subscriptions).
#include "rs/client/client.h"

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
  Impl& im = *impl_;
  const uint64_t id = im.next_request_id++;
  const Clock::time_point deadline = im.request_deadline();
  im.streams.open(job_id, from_seq);
  schemas::SubscribeRequest request{.request_id = id, .job_id = job_id, .from_seq = from_seq};
  im.pending.insert(id);
  if (Status s = im.send(schemas::make_frames(request), deadline); !s.ok()) {
    im.pending.erase(id);
    return s;
  }
  // SUBSCRIBE has no positive ack: a PING behind it on the same socket is answered after
  // any ERROR for it, so once the PONG is here the subscription stands.
  const uint64_t ping_id = im.next_request_id++;
  im.pending.insert(ping_id);
  Status sent = im.send(schemas::make_frames(schemas::Ping{.request_id = ping_id}), deadline);
  auto pong = sent.ok() ? im.await_reply(ping_id, deadline) : Result<schemas::Message>(sent);
  im.pending.erase(ping_id);
  auto it = im.replies.find(id);
  Status error = it != im.replies.end() ? reply_error(it->second) : Status();
  if (it != im.replies.end()) im.replies.erase(it);
  im.pending.erase(id);
  if (error.ok()) error = pong.status();
  if (!error.ok()) im.streams.collect(job_id);
  return error;
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
    // Wait in slices when unlimited so a long job never overflows the deadline arithmetic.
    Clock::time_point slice = limited ? deadline : Clock::now() + std::chrono::seconds(1);
    RS_ASSIGN_OR_RETURN(bool got, im.pump(slice));
    if (!got && limited) {
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
