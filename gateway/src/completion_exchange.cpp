// CompletionExchange: choices as jobs, the whole answer or the SSE stream.
#include "completion_exchange.h"

#include "gateway_context.h"
#include "response_format.h"

namespace rs::gateway {

CompletionExchange::CompletionExchange(std::weak_ptr<HttpSession> session, GatewayContext& context,
                                       GenerationPlan plan)
    : session_(std::move(session)), context_(context), plan_(std::move(plan)) {}

void CompletionExchange::start() {
  const size_t total = plan_.submits.size();
  choices_.resize(total);
  auto self = shared_from_this();
  for (size_t i = 0; i < total; ++i) {
    Choice& c = choices_[i];
    c.meta = plan_.meta;
    c.meta.index = static_cast<uint32_t>(i);
    c.assembler = ChoiceAssembler(std::nullopt, c.meta.echo, c.meta.scoring_only);
    c.listener_id = context_.bridge.new_listener_id();
    BridgeCommand cmd;
    cmd.kind = BridgeCommand::Kind::kSubmit;
    cmd.listener_id = c.listener_id;
    cmd.submit = std::move(plan_.submits[i]);
    cmd.listener = make_listener(
        context_, self, [i](CompletionExchange& x, BridgeEvent e) { x.on_event(i, std::move(e)); });
    context_.bridge.post(std::move(cmd));
  }
  plan_.submits.clear();
}

void CompletionExchange::on_event(size_t index, BridgeEvent event) {
  if (index >= choices_.size()) return;
  Choice& c = choices_[index];
  if (self_) return on_settling_event(c, event);
  if (answered_) return;
  switch (event.kind) {
    case BridgeEvent::Kind::kAccepted:
      c.accepted = true;
      c.job_id = event.job_id;
      return maybe_start_stream();
    case BridgeEvent::Kind::kTokens:
      return on_tokens(c, event.tokens);
    case BridgeEvent::Kind::kDone:
      return on_end(c, &event.record, Status());
    case BridgeEvent::Kind::kError:
      return on_end(c, nullptr, event.error);
    default:
      return;
  }
}

void CompletionExchange::on_tokens(Choice& c, const std::vector<schemas::TokenEntry>& tokens) {
  if (c.ended) return;
  if (!tokens.empty()) c.first_token = true;
  for (const auto& t : tokens) c.assembler.add(t, c.held);
  if (started_) return send_pieces(c);
  if (plan_.stream) maybe_start_stream();
}

void CompletionExchange::on_end(Choice& c, const schemas::JobRecord* record, Status error) {
  if (c.ended) return;
  c.ended = true;
  if (record != nullptr) {
    c.record = *record;
    if (record->state == schemas::JobState::kFailed) {
      c.error = schemas::wire_error(record->error_code, record->error);
    } else if (auto tail = c.assembler.flush()) {
      c.held.push_back(std::move(*tail));
    }
  } else {
    c.error = std::move(error);
  }
  if (!c.error.ok() && !started_) return fail_before_start(c.error);
  if (plan_.stream) {
    maybe_start_stream();
    if (started_) finish_stream_choice(c);
  }
  if (all_ended()) finish();
}

bool CompletionExchange::all_accepted() const {
  for (const auto& c : choices_) {
    if (!c.accepted) return false;
  }
  return true;
}

bool CompletionExchange::all_ended() const {
  for (const auto& c : choices_) {
    if (!c.ended) return false;
  }
  return true;
}

std::string CompletionExchange::job_ids() const {
  std::string out;
  for (const auto& c : choices_) out += (out.empty() ? "" : ",") + c.job_id;
  return out;
}

// Every choice is a job, and one has text (or ended) -- or, for chat, every one has had
// its first token (or ended).
bool CompletionExchange::head_ready() const {
  if (!all_accepted()) return false;
  if (head_waits_for_every_choice(plan_.meta)) {
    for (const auto& c : choices_) {
      if (!c.first_token && !c.ended) return false;
    }
    return true;
  }
  for (const auto& c : choices_) {
    if (!c.held.empty() || c.ended) return true;
  }
  return false;
}

void CompletionExchange::maybe_start_stream() {
  if (started_ || !plan_.stream || !head_ready()) return;
  auto session = session_.lock();
  if (!session) return;
  started_ = true;
  session->start_stream({{"x-ringserve-job", job_ids()}});
  for (auto& c : choices_) session->send_event(opening_event(c.meta));
  for (auto& c : choices_) {
    send_pieces(c);
    if (c.ended) finish_stream_choice(c);
  }
}

void CompletionExchange::send_pieces(Choice& c) {
  auto session = session_.lock();
  if (!session) return;
  for (const auto& p : c.held) session->send_event(piece_event(c.meta, p));
  c.held.clear();
}

void CompletionExchange::finish_stream_choice(Choice& c) {
  auto session = session_.lock();
  if (!session) return;
  send_pieces(c);
  if (!c.error.ok()) return session->send_event(error_event(c.meta, c.error));
  session->send_event(final_event(c.meta, c.record));
}

void CompletionExchange::finish() {
  if (answered_) return;
  answered_ = true;
  auto session = session_.lock();
  if (!session) return;
  if (!plan_.stream) return answer_whole(*session);
  if (plan_.include_usage) {
    schemas::Usage usage;
    for (const auto& c : choices_) {
      usage.prompt_tokens += c.record.usage.prompt_tokens;
      usage.completion_tokens += c.record.usage.completion_tokens;
    }
    session->send_event(usage_event(plan_.meta, usage));
  }
  session->send_event(done_event());
  session->end_stream();
}

void CompletionExchange::answer_whole(HttpSession& session) {
  std::vector<ChoiceResult> results;
  for (auto& c : choices_) {
    if (!c.error.ok()) return session.respond_error(api_error_for(plan_.meta, c.error));
    results.push_back(
        ChoiceResult{.index = c.meta.index, .piece = join_pieces(c.held), .record = c.record});
  }
  session.respond(http::status::ok, whole_response(plan_.meta, results),
                  {{"x-ringserve-job", job_ids()}});
}

void CompletionExchange::cancel_job(const std::string& job_id) {
  BridgeCommand cmd;
  cmd.kind = BridgeCommand::Kind::kCancel;
  cmd.job_id = job_id;
  context_.bridge.post(std::move(cmd));
}

// The other choices are of no use now: cancelled at once, those not yet accepted as soon
// as they are.
void CompletionExchange::fail_before_start(const Status& error) {
  answered_ = true;
  failed_ = true;
  for (auto& c : choices_) {
    if (c.accepted && !c.ended) cancel_job(c.job_id);
  }
  if (auto session = session_.lock()) session->respond_error(api_error_for(plan_.meta, error));
  self_ = shared_from_this();
  release_if_settled();
}

void CompletionExchange::client_gone() {
  if (gone_ || answered_) return;
  gone_ = true;
  for (auto& c : choices_) {
    if (c.accepted && !c.ended && !plan_.background) cancel_after_grace(context_, c.job_id);
  }
  // Choices not yet accepted still need their answer (to cancel the job): stay alive.
  self_ = shared_from_this();
  release_if_settled();
}

// After a vanished client or an early failure: a job accepted now is cancelled too.
void CompletionExchange::on_settling_event(Choice& c, const BridgeEvent& event) {
  if (event.kind == BridgeEvent::Kind::kAccepted && !c.accepted) {
    c.accepted = true;
    c.job_id = event.job_id;
    if (failed_) {
      cancel_job(c.job_id);
    } else if (!plan_.background) {
      cancel_after_grace(context_, c.job_id);
    }
  } else if (event.kind == BridgeEvent::Kind::kDone || event.kind == BridgeEvent::Kind::kError) {
    c.ended = true;
  }
  release_if_settled();
}

// Once every choice of a vanished client is accepted or ended, nothing more is needed.
void CompletionExchange::release_if_settled() {
  for (const auto& c : choices_) {
    if (!c.accepted && !c.ended) return;
  }
  for (auto& c : choices_) {
    BridgeCommand cmd;
    cmd.kind = BridgeCommand::Kind::kUnlisten;
    cmd.listener_id = c.listener_id;
    context_.bridge.post(std::move(cmd));
  }
  self_.reset();  // may destroy this: nothing after
}

}  // namespace rs::gateway
