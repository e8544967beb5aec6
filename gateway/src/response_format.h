// The answer of a generation request in the format its api_meta names (text_completion or
// chat.completion): the SSE events of a choice's stream, the whole response, the error a
// failed job shows, and when a stream's head may go out. Shared by CompletionExchange (the
// first answer) and EventsExchange (a resume), so both write the same events. Pure; any
// thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api_error.h"
#include "completion_format.h"
#include "rs/core/status.h"

namespace rs::gateway {

// The event that opens a choice's stream before any text: the chat role chunk (no id: a
// resume after an event id never repeats it), or "" for text_completion.
std::string opening_event(const ApiMeta& meta);
// A text piece, with `id: <last seq>`.
std::string piece_event(const ApiMeta& meta, const TextPiece& piece);
// The end of a choice: its finish chunk, or an error event for a failed job.
std::string final_event(const ApiMeta& meta, const schemas::JobRecord& record);
std::string error_event(const ApiMeta& meta, const Status& error);
std::string usage_event(const ApiMeta& meta, const schemas::Usage& usage);
std::string done_event();
// The whole (non-streamed) response.
std::string whole_response(const ApiMeta& meta, const std::vector<ChoiceResult>& choices);

// The HTTP error a job's failure is. Chat: a template that cannot render (invalid_argument)
// and a rendered prompt over the context (prompt_too_long, too_large) are the request's
// fault: 400 naming `messages` (prompt_too_long: code context_length_exceeded). Otherwise
// as from_broker().
ApiError api_error_for(const ApiMeta& meta, const Status& error);

// The events of one job's stream rebuilt from its token entries (seq order from 0) and its
// end, as GET /v1/jobs/{id}/events sends them: after `after_seq` (the client's last event
// id) exactly the events the first stream sent after it; from the start, the whole stream
// (the opening before the first text, or before the end of a job that had tokens or
// succeeded: a job that failed before its first token had no stream).
class ChoiceEvents {
 public:
  explicit ChoiceEvents(ApiMeta meta, std::optional<uint64_t> after_seq = std::nullopt)
      : meta_(std::move(meta)),
        assembler_(after_seq, meta_.echo, meta_.scoring_only),
        opened_(after_seq.has_value()) {}
  void add(const schemas::TokenEntry& entry, std::vector<std::string>& out);
  // The tail, the final chunk (or error), and the usage chunk when the request asked.
  void end(const schemas::JobRecord& record, std::vector<std::string>& out);
  const ApiMeta& meta() const { return meta_; }

 private:
  void open(std::vector<std::string>& out);
  ApiMeta meta_;
  ChoiceAssembler assembler_;
  bool opened_ = false;
  std::vector<TextPiece> pieces_;  // scratch
};

// Whether the stream's head waits for every choice's first token (chat: a render error on
// any choice must still be a 400) or only for one (text_completion).
bool head_waits_for_every_choice(const ApiMeta& meta);

}  // namespace rs::gateway
