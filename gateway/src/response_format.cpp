// Dispatch on the api_meta's kind; the chat error mapping.
#include "response_format.h"

#include "chat_format.h"
#include "rs/schemas/errors.h"

namespace rs::gateway {

std::string opening_event(const ApiMeta& meta) {
  return meta.is_chat() ? sse_data(chat_role_chunk(meta)) : std::string();
}

std::string piece_event(const ApiMeta& meta, const TextPiece& piece) {
  return sse_event(piece.last_seq, meta.is_chat() ? chat_content_chunk(meta, piece)
                                                  : completion_chunk(meta, &piece, ""));
}

std::string final_event(const ApiMeta& meta, const schemas::JobRecord& record) {
  if (record.state == schemas::JobState::kFailed)
    return error_event(meta, schemas::wire_error(record.error_code, record.error));
  const std::string reason = api_finish_reason(meta, record);
  return sse_data(meta.is_chat() ? chat_final_chunk(meta, reason)
                                 : completion_chunk(meta, nullptr, reason));
}

std::string error_event(const ApiMeta& meta, const Status& error) {
  return sse_data(error_body(api_error_for(meta, error)));
}

std::string usage_event(const ApiMeta& meta, const schemas::Usage& usage) {
  return sse_data(meta.is_chat() ? chat_usage_chunk(meta, usage) : usage_chunk(meta, usage));
}

std::string done_event() {
  return "data: [DONE]\n\n";
}

std::string whole_response(const ApiMeta& meta, const std::vector<ChoiceResult>& choices) {
  return meta.is_chat() ? chat_response(meta, choices) : completion_response(meta, choices);
}

ApiError api_error_for(const ApiMeta& meta, const Status& error) {
  ApiError e = from_broker(error);
  if (!meta.is_chat()) return e;
  switch (schemas::wire_error_of(error)) {
    case schemas::ErrorCode::kPromptTooLong:
      e.code = "context_length_exceeded";
      [[fallthrough]];
    case schemas::ErrorCode::kInvalidArgument:
    case schemas::ErrorCode::kTooLarge:
      e.status = 400;
      e.type = "invalid_request_error";
      e.param = "messages";
      return e;
    default:
      return e;
  }
}

void ChoiceEvents::open(std::vector<std::string>& out) {
  if (opened_) return;
  opened_ = true;
  if (auto e = opening_event(meta_); !e.empty()) out.push_back(std::move(e));
}

void ChoiceEvents::add(const schemas::TokenEntry& entry, std::vector<std::string>& out) {
  pieces_.clear();
  assembler_.add(entry, pieces_);
  for (const auto& p : pieces_) {
    open(out);
    out.push_back(piece_event(meta_, p));
  }
}

void ChoiceEvents::end(const schemas::JobRecord& record, std::vector<std::string>& out) {
  if (auto tail = assembler_.flush()) {
    open(out);
    out.push_back(piece_event(meta_, *tail));
  }
  const bool failed = record.state == schemas::JobState::kFailed;
  if (!failed || assembler_.next_seq() > 0) open(out);
  out.push_back(final_event(meta_, record));
  if (!failed && meta_.include_usage) out.push_back(usage_event(meta_, record.usage));
}

bool head_waits_for_every_choice(const ApiMeta& meta) {
  return meta.is_chat();
}

}  // namespace rs::gateway
