// EventsExchange: STATUS for the format, then SUBSCRIBE from 0 with a silent replay.
#include "events_exchange.h"

#include "gateway_context.h"
#include "response_format.h"

namespace rs::gateway {

EventsExchange::EventsExchange(std::weak_ptr<HttpSession> session, GatewayContext& context,
                               std::string job_id, std::optional<uint64_t> after_seq,
                               Caller caller)
    : session_(std::move(session)),
      context_(context),
      job_id_(std::move(job_id)),
      caller_(std::move(caller)),
      after_seq_(after_seq) {}

EventsExchange::~EventsExchange() {
  stop_watching();
}

void EventsExchange::start() {
  BridgeCommand cmd;
  cmd.kind = BridgeCommand::Kind::kStatus;
  cmd.job_id = job_id_;
  cmd.listener = make_listener(context_, shared_from_this(),
                               [](EventsExchange& x, BridgeEvent e) { x.on_status(std::move(e)); });
  context_.bridge.post(std::move(cmd));
}

void EventsExchange::on_status(BridgeEvent event) {
  auto session = session_.lock();
  if (!session || ended_) return;
  if (event.kind != BridgeEvent::Kind::kStatus) {
    ended_ = true;
    return session->respond_error(job_error(event.error, job_id_));
  }
  const schemas::JobRecord& r = event.record;
  if (!may_access_job(caller_, r.tenant)) {  // the same 404 as an unknown job
    ended_ = true;
    return session->respond_error(job_not_found(job_id_));
  }
  events_.emplace(decode_api_meta(r.api_meta).value_or(default_api_meta(r)), after_seq_);
  streaming_ = true;
  watching_ = true;
  ++context_.watchers[job_id_];
  session->start_stream({{"x-ringserve-job", job_id_}});
  listener_id_ = context_.bridge.new_listener_id();
  BridgeCommand cmd;
  cmd.kind = BridgeCommand::Kind::kSubscribe;
  cmd.listener_id = listener_id_;
  cmd.job_id = job_id_;
  cmd.from_seq = 0;
  cmd.listener = make_listener(context_, shared_from_this(),
                               [](EventsExchange& x, BridgeEvent e) { x.on_event(std::move(e)); });
  context_.bridge.post(std::move(cmd));
}

void EventsExchange::on_event(BridgeEvent event) {
  auto session = session_.lock();
  if (!session || ended_ || !events_) return;
  if (event.kind == BridgeEvent::Kind::kTokens) {
    for (const auto& t : event.tokens) events_->add(t, out_);
    return send(*session);
  }
  if (event.kind != BridgeEvent::Kind::kDone && event.kind != BridgeEvent::Kind::kError) return;
  ended_ = true;
  if (event.kind == BridgeEvent::Kind::kDone) {
    events_->end(event.record, out_);
  } else {
    out_.push_back(error_event(events_->meta(), event.error));
  }
  out_.push_back(done_event());
  send(*session);
  stop_watching();
  session->end_stream();
}

void EventsExchange::send(HttpSession& session) {
  for (auto& e : out_) session.send_event(std::move(e));
  out_.clear();
}

void EventsExchange::stop_watching() {
  if (!watching_) return;
  watching_ = false;
  auto it = context_.watchers.find(job_id_);
  if (it != context_.watchers.end() && --it->second <= 0) context_.watchers.erase(it);
  BridgeCommand cmd;
  cmd.kind = BridgeCommand::Kind::kUnlisten;
  cmd.listener_id = listener_id_;
  context_.bridge.post(std::move(cmd));
}

void EventsExchange::client_gone() {
  if (ended_) return;
  ended_ = true;
  stop_watching();
  // A resumed stream of a non-background job vanishing is a disconnect like the first.
  if (streaming_ && events_ && !events_->meta().background) cancel_after_grace(context_, job_id_);
}

}  // namespace rs::gateway
