// CompletionExchange: choices as jobs, the whole answer or the SSE stream.
#include "completion_exchange.h"

#include <chrono>

#include "gateway_context.h"

namespace rs::gateway {

namespace {

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_hex(std::mt19937_64& rng, int n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < n; ++i) out += kHex[rng() & 15];
  return out;
}

}  // namespace

CompletionExchange::CompletionExchange(std::weak_ptr<HttpSession> session, GatewayContext& context,
                                       CompletionRequest request, std::string tenant)
    : session_(std::move(session)),
      context_(context),
      request_(std::move(request)),
      tenant_(std::move(tenant)) {
  meta_.model = request_.model;
  meta_.created = unix_seconds();
  meta_.id = "cmpl-" + random_hex(context_.rng, 24);
  meta_.logprobs = request_.logprobs;
  meta_.include_usage = request_.include_usage;
  meta_.background = request_.background;
}

schemas::SubmitRequest CompletionExchange::make_submit(size_t index, const std::string& prompt) {
  schemas::SubmitRequest s;
  s.model = request_.model;
  s.prompt = prompt;
  s.sampling = request_.sampling;
  // A concrete seed always: a re-dispatched job then yields the same tokens. Choice i of
  // a seeded request uses seed + i, so n > 1 choices differ yet stay reproducible.
  s.sampling.seed = request_.seed_given ? request_.sampling.seed + index : context_.rng() >> 1;
  s.max_tokens = request_.max_tokens;
  s.stop = request_.stop;
  s.priority = request_.priority;
  s.affinity_key = request_.affinity_key;
  if (request_.affinity_key.empty()) s.session_id = request_.user;
  s.stream = true;
  s.ignore_eos = request_.ignore_eos;
  s.detach = true;
  s.tenant = tenant_;
  ApiMeta meta = meta_;
  meta.index = static_cast<uint32_t>(index);
  s.api_meta = encode_api_meta(meta);
  return s;
}

void CompletionExchange::start() {
  const size_t total = request_.prompts.size() * request_.n;
  choices_.resize(total);
  auto self = shared_from_this();
  for (size_t i = 0; i < total; ++i) {
    Choice& c = choices_[i];
    c.meta = meta_;
    c.meta.index = static_cast<uint32_t>(i);
    c.listener_id = context_.bridge.new_listener_id();
    BridgeCommand cmd;
    cmd.kind = BridgeCommand::Kind::kSubmit;
    cmd.listener_id = c.listener_id;
    cmd.submit = make_submit(i, request_.prompts[i / request_.n]);
    cmd.listener = make_listener(
        context_, self, [i](CompletionExchange& x, BridgeEvent e) { x.on_event(i, std::move(e)); });
    context_.bridge.post(std::move(cmd));
  }
}

void CompletionExchange::on_event(size_t index, BridgeEvent event) {
  if (answered_ || index >= choices_.size()) return;
  Choice& c = choices_[index];
  switch (event.kind) {
    case BridgeEvent::Kind::kAccepted:
      c.accepted = true;
      c.job_id = event.job_id;
      if (gone_) {
        if (!request_.background) cancel_after_grace(context_, c.job_id);
        return release_if_settled();
      }
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
  for (const auto& t : tokens) c.assembler.add(t, c.held);
  if (started_) return send_pieces(c);
  if (request_.stream) maybe_start_stream();
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
  if (gone_) return release_if_settled();
  if (!c.error.ok() && !started_) return fail_before_start(c.error);
  if (request_.stream) {
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

// Headers go out once every choice is a job and one of them has text or ended.
void CompletionExchange::maybe_start_stream() {
  if (started_ || !request_.stream || !all_accepted()) return;
  bool ready = false;
  for (const auto& c : choices_) ready = ready || !c.held.empty() || c.ended;
  if (!ready) return;
  auto session = session_.lock();
  if (!session) return;
  started_ = true;
  session->start_stream({{"x-ringserve-job", job_ids()}});
  for (auto& c : choices_) {
    send_pieces(c);
    if (c.ended) finish_stream_choice(c);
  }
}

void CompletionExchange::send_pieces(Choice& c) {
  auto session = session_.lock();
  if (!session) return;
  for (const auto& p : c.held) {
    session->send_event("id: " + std::to_string(p.last_seq) + "\n" +
                        sse_data(completion_chunk(c.meta, &p, "")));
  }
  c.held.clear();
}

void CompletionExchange::finish_stream_choice(Choice& c) {
  auto session = session_.lock();
  if (!session) return;
  send_pieces(c);
  if (!c.error.ok()) {
    ApiError e = from_broker(c.error);
    session->send_event(sse_data(error_body(e)));
    return;
  }
  session->send_event(sse_data(completion_chunk(c.meta, nullptr, api_finish_reason(c.record))));
}

void CompletionExchange::finish() {
  if (answered_) return;
  answered_ = true;
  auto session = session_.lock();
  if (!session) return;
  if (request_.stream) {
    if (request_.include_usage) {
      schemas::Usage usage;
      for (const auto& c : choices_) {
        usage.prompt_tokens += c.record.usage.prompt_tokens;
        usage.completion_tokens += c.record.usage.completion_tokens;
      }
      session->send_event(sse_data(usage_chunk(meta_, usage)));
    }
    session->send_event("data: [DONE]\n\n");
    session->end_stream();
    return;
  }
  std::vector<ChoiceResult> results;
  for (auto& c : choices_) {
    if (!c.error.ok()) return session->respond_error(from_broker(c.error));
    ChoiceResult r{.index = c.meta.index, .record = c.record};
    for (auto& p : c.held) {
      r.piece.text += p.text;
      r.piece.tokens.insert(r.piece.tokens.end(), p.tokens.begin(), p.tokens.end());
      r.piece.logprobs.insert(r.piece.logprobs.end(), p.logprobs.begin(), p.logprobs.end());
      r.piece.text_offsets.insert(r.piece.text_offsets.end(), p.text_offsets.begin(),
                                  p.text_offsets.end());
    }
    results.push_back(std::move(r));
  }
  session->respond(http::status::ok, completion_response(meta_, results),
                   {{"x-ringserve-job", job_ids()}});
}

void CompletionExchange::fail_before_start(const Status& error) {
  answered_ = true;
  for (auto& c : choices_) {  // the other choices are of no use now
    if (c.accepted && !c.ended) {
      BridgeCommand cmd;
      cmd.kind = BridgeCommand::Kind::kCancel;
      cmd.job_id = c.job_id;
      context_.bridge.post(std::move(cmd));
    }
  }
  if (auto session = session_.lock()) session->respond_error(from_broker(error));
}

void CompletionExchange::client_gone() {
  if (gone_ || answered_) return;
  gone_ = true;
  for (auto& c : choices_) {
    if (c.accepted && !c.ended && !request_.background) cancel_after_grace(context_, c.job_id);
  }
  // Choices not yet accepted still need their answer (to cancel the job): stay alive.
  self_ = shared_from_this();
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
