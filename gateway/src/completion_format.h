// The OpenAI text_completion format and what every format shares: the api_meta a job
// carries (so any gateway can rebuild its chunks), the assembler that turns a job's token
// entries into text pieces ending on UTF-8 character boundaries (an event's id is the last
// seq it carries), SSE framing, and the JSON of chunks, final responses and usage. Pure;
// any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rs/schemas/messages.h"

namespace rs::gateway {

// ApiMeta.kind: the object a whole response is (its chunks are "<kind>.chunk" for chat).
inline constexpr std::string_view kTextCompletion = "text_completion";
inline constexpr std::string_view kChatCompletion = "chat.completion";

// Travels with the job (SUBMIT.api_meta -> the job record) as a small JSON object.
struct ApiMeta {
  std::string kind{kTextCompletion};
  std::string model;    // the model name the client asked for
  int64_t created = 0;  // Unix seconds
  std::string id;       // the response id ("cmpl-<first job id>")
  uint32_t index = 0;   // this job's choice index in the response
  bool logprobs = false;
  uint32_t top_logprobs = 0;  // alternatives per token shown (logprobs N / top_logprobs N)
  bool echo = false;          // completions: the prompt's tokens come first
  // completions max_tokens 0 with echo: the job runs for 1 token (the wire's minimum), which
  // is not shown; the choice is the prompt alone, finish_reason "length", 0 completion tokens.
  bool scoring_only = false;
  bool include_usage = false;
  bool background = false;  // never cancelled for a vanished client
  bool is_chat() const { return kind == kChatCompletion; }
};
std::string encode_api_meta(const ApiMeta& meta);
// nullopt for text that is not an api_meta of ours (a job from the CLI has none).
std::optional<ApiMeta> decode_api_meta(std::string_view text);
// What a job submitted without api_meta is shown as.
ApiMeta default_api_meta(const schemas::JobRecord& record);

// A run of tokens whose text ends on a character boundary.
struct TextPiece {
  std::string text;
  std::vector<std::string> tokens;       // each token's own text (invalid bytes -> U+FFFD)
  std::vector<std::string> token_bytes;  // each token's raw bytes
  std::vector<float> logprobs;        // NaN: none (an echoed prompt's first token) -> null
  std::vector<std::vector<schemas::TokenAlt>> top;  // each token's alternatives
  std::vector<int64_t> text_offsets;  // bytes into the choice's text (the echo included)
  uint64_t last_seq = 0;
};

// Takes a job's entries in seq order from seq 0. Entries up to and including skip_through
// (a resume point: the last event id a client saw) only advance the state. Deterministic
// in the token sequence alone, so a replay yields the same text after any event id.
// echo: seq 0's prompt tokens (TokenEntry::prompt) come first, in seq 0's piece;
// drop_completion: the completion's tokens are not shown (ApiMeta::scoring_only).
class ChoiceAssembler {
 public:
  explicit ChoiceAssembler(std::optional<uint64_t> skip_through = std::nullopt, bool echo = false,
                           bool drop_completion = false)
      : skip_(skip_through), echo_(echo), drop_completion_(drop_completion) {}
  // Adds one entry (a seq other than next_seq() is ignored); returns the pieces completed.
  void add(const schemas::TokenEntry& entry, std::vector<TextPiece>& out);
  // At the end: whatever is held, incomplete bytes replaced by U+FFFD (may be empty).
  std::optional<TextPiece> flush();
  uint64_t next_seq() const { return next_seq_; }

 private:
  void hold(const std::string& text, float logprob, const std::vector<schemas::TokenAlt>& top);
  std::optional<uint64_t> skip_;
  bool echo_ = false;
  bool drop_completion_ = false;
  uint64_t next_seq_ = 0;
  int64_t offset_ = 0;  // bytes of completed text before `held_`
  TextPiece held_;      // tokens not yet emitted
  std::string raw_;     // their raw bytes
};

// Valid UTF-8 bytes of `s`, invalid sequences replaced by U+FFFD; `complete` tells whether
// `s` ends on a character boundary (an incomplete tail is replaced too).
std::string sanitize_utf8(std::string_view s, bool* complete = nullptr);

// The finish_reason the API shows for a record ("stop" | "length").
std::string api_finish_reason(const schemas::JobRecord& record);

// {"prompt_tokens", "completion_tokens", "total_tokens"}.
nlohmann::ordered_json usage_json(const schemas::Usage& usage);
// The usage a response shows: a scoring_only choice generated nothing it shows.
schemas::Usage api_usage(const ApiMeta& meta, const schemas::Usage& usage);
// The finish_reason a choice shows: "length" for scoring_only, else api_finish_reason.
std::string api_finish_reason(const ApiMeta& meta, const schemas::JobRecord& record);

// One streamed chunk (a text piece; finish_reason set on the last).
std::string completion_chunk(const ApiMeta& meta, const TextPiece* piece,
                             const std::string& finish_reason);
// The usage chunk (choices empty) of stream_options.include_usage.
std::string usage_chunk(const ApiMeta& meta, const schemas::Usage& usage);

// SSE text: "data: <data>\n\n", and the same after "id: <id>\n".
std::string sse_data(const std::string& data);
std::string sse_event(uint64_t id, const std::string& data);

// A whole non-streamed choice.
struct ChoiceResult {
  uint32_t index = 0;
  TextPiece piece;
  schemas::JobRecord record;
};
// The pieces of one choice as one (text, tokens, logprobs, offsets concatenated).
TextPiece join_pieces(const std::vector<TextPiece>& pieces);
std::string completion_response(const ApiMeta& meta, const std::vector<ChoiceResult>& choices);

}  // namespace rs::gateway
