// text_completion chunks and responses; the UTF-8-boundary token assembler.
#include "completion_format.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "json_text.h"

namespace rs::gateway {

using ojson = nlohmann::ordered_json;  // keys as written: alternatives stay in likelihood order

namespace {

// Length of the UTF-8 sequence a lead byte starts (0: not a lead byte).
int sequence_length(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

bool valid_continuation(unsigned char lead, size_t i, unsigned char c) {
  if ((c & 0xC0) != 0x80) return false;
  if (i != 1) return true;
  if (lead == 0xE0) return c >= 0xA0;
  if (lead == 0xED) return c <= 0x9F;
  if (lead == 0xF0) return c >= 0x90;
  if (lead == 0xF4) return c <= 0x8F;
  return true;
}

ojson logprob_value(float logprob) { return std::isnan(logprob) ? ojson(nullptr) : ojson(logprob); }

// OpenAI's legacy format: with logprobs N > 0, top_logprobs[i] is {text: logprob} of token
// i's alternatives (null at an echoed prompt's first token, which has none); with 0, an
// empty list. Two alternatives of the same text (two ids, one text) keep the first (the
// more likely).
ojson logprobs_json(const ApiMeta& meta, const TextPiece& piece) {
  ojson logprobs = ojson::array();
  ojson top = ojson::array();
  for (size_t i = 0; i < piece.tokens.size(); ++i) {
    logprobs.push_back(logprob_value(i < piece.logprobs.size() ? piece.logprobs[i] : 0.0f));
    if (meta.top_logprobs == 0) continue;
    if (i >= piece.top.size() || std::isnan(piece.logprobs[i])) {
      top.push_back(nullptr);
      continue;
    }
    ojson alts = ojson::object();
    for (size_t k = 0; k < piece.top[i].size() && k < meta.top_logprobs; ++k) {
      const schemas::TokenAlt& a = piece.top[i][k];
      const std::string text = sanitize_utf8(a.text);
      if (!alts.contains(text)) alts[text] = a.logprob;
    }
    top.push_back(std::move(alts));
  }
  return ojson{{"tokens", piece.tokens},
              {"token_logprobs", std::move(logprobs)},
              {"top_logprobs", std::move(top)},
              {"text_offset", piece.text_offsets}};
}

}  // namespace

ojson usage_json(const schemas::Usage& usage) {
  return ojson{{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

TextPiece join_pieces(const std::vector<TextPiece>& pieces) {
  TextPiece out;
  for (const auto& p : pieces) {
    out.text += p.text;
    out.tokens.insert(out.tokens.end(), p.tokens.begin(), p.tokens.end());
    out.token_bytes.insert(out.token_bytes.end(), p.token_bytes.begin(), p.token_bytes.end());
    out.logprobs.insert(out.logprobs.end(), p.logprobs.begin(), p.logprobs.end());
    out.top.insert(out.top.end(), p.top.begin(), p.top.end());
    out.text_offsets.insert(out.text_offsets.end(), p.text_offsets.begin(), p.text_offsets.end());
    out.last_seq = p.last_seq;
  }
  return out;
}

std::string sanitize_utf8(std::string_view s, bool* complete) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  bool ends_whole = true;
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const int len = sequence_length(lead);
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    while (k < static_cast<size_t>(len) && i + k < s.size() &&
           valid_continuation(lead, k, static_cast<unsigned char>(s[i + k]))) {
      ++k;
    }
    if (k == static_cast<size_t>(len)) {
      out.append(s.substr(i, k));
    } else {
      if (i + k == s.size()) ends_whole = false;  // a valid prefix cut by the end
      out += kReplacement;
    }
    i += k;
  }
  if (complete != nullptr) *complete = ends_whole;
  return out;
}

void ChoiceAssembler::hold(const std::string& text, float logprob,
                           const std::vector<schemas::TokenAlt>& top) {
  if (held_.tokens.empty()) held_.text_offsets.clear();
  held_.text_offsets.push_back(offset_ + static_cast<int64_t>(raw_.size()));
  held_.tokens.push_back(sanitize_utf8(text));
  held_.token_bytes.push_back(text);
  held_.logprobs.push_back(logprob);
  held_.top.push_back(top);
  raw_ += text;
}

void ChoiceAssembler::add(const schemas::TokenEntry& entry, std::vector<TextPiece>& out) {
  if (entry.seq != next_seq_) return;
  ++next_seq_;
  if (echo_ && entry.seq == 0) {
    for (size_t i = 0; i < entry.prompt.size(); ++i) {
      const schemas::PromptToken& p = entry.prompt[i];
      hold(p.text, i == 0 ? std::numeric_limits<float>::quiet_NaN() : p.logprob, p.top);
    }
  }
  if (!drop_completion_) hold(entry.text, entry.logprob, entry.top);
  held_.last_seq = entry.seq;
  if (held_.tokens.empty()) return;
  bool complete = false;
  std::string text = sanitize_utf8(raw_, &complete);
  if (!complete) return;  // wait for the rest of the character
  offset_ += static_cast<int64_t>(raw_.size());
  raw_.clear();
  held_.text = std::move(text);
  TextPiece piece = std::move(held_);
  held_ = TextPiece{};
  if (skip_ && piece.last_seq <= *skip_) return;  // the client has it already
  out.push_back(std::move(piece));
}

std::optional<TextPiece> ChoiceAssembler::flush() {
  if (held_.tokens.empty()) return std::nullopt;
  held_.text = sanitize_utf8(raw_);
  offset_ += static_cast<int64_t>(raw_.size());
  raw_.clear();
  TextPiece piece = std::move(held_);
  held_ = TextPiece{};
  if (skip_ && piece.last_seq <= *skip_) return std::nullopt;
  return piece;
}

std::string sse_data(const std::string& data) {
  return "data: " + data + "\n\n";
}
std::string sse_event(uint64_t id, const std::string& data) {
  return "id: " + std::to_string(id) + "\n" + sse_data(data);
}

std::string encode_api_meta(const ApiMeta& meta) {
  return json_text(ojson{{"kind", meta.kind},
                        {"model", meta.model},
                        {"created", meta.created},
                        {"id", meta.id},
                        {"index", meta.index},
                        {"logprobs", meta.logprobs},
                        {"top_logprobs", meta.top_logprobs},
                        {"echo", meta.echo},
                        {"scoring_only", meta.scoring_only},
                        {"include_usage", meta.include_usage},
                        {"background", meta.background}});
}

namespace {

// An integer field as encode_api_meta writes it: absent -> fallback; anything else but an
// integer in T's range -> nullopt (nlohmann's value() would convert a float such as 1e39 to
// T, which is undefined behaviour).
template <class T>
std::optional<T> meta_integer(const ojson& j, const char* name, T fallback) {
  auto it = j.find(name);
  if (it == j.end()) return fallback;
  if (it->is_number_unsigned()) {
    const uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return std::nullopt;
    return static_cast<T>(v);
  }
  if (it->is_number_integer()) {
    const int64_t v = it->get<int64_t>();
    if (v < static_cast<int64_t>(std::numeric_limits<T>::min())) return std::nullopt;
    if (v > 0 && static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      return std::nullopt;
    }
    return static_cast<T>(v);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiMeta> decode_api_meta(std::string_view text) {
  if (text.empty()) return std::nullopt;
  ojson j = ojson::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  ApiMeta m;
  try {
    m.kind = j.value("kind", std::string(kTextCompletion));
    if (m.kind != kChatCompletion) m.kind = kTextCompletion;
    m.model = j.value("model", std::string());
    std::optional<int64_t> created = meta_integer(j, "created", int64_t{0});
    std::optional<uint32_t> index = meta_integer(j, "index", 0u);
    std::optional<uint32_t> top_logprobs = meta_integer(j, "top_logprobs", 0u);
    if (!created || !index || !top_logprobs) return std::nullopt;
    m.created = *created;
    m.id = j.value("id", std::string());
    m.index = *index;
    m.logprobs = j.value("logprobs", false);
    m.top_logprobs = std::min(*top_logprobs, 20u);
    m.echo = j.value("echo", false);
    m.scoring_only = j.value("scoring_only", false);
    m.include_usage = j.value("include_usage", false);
    m.background = j.value("background", false);
  } catch (const ojson::exception&) {
    return std::nullopt;
  }
  return m;
}

ApiMeta default_api_meta(const schemas::JobRecord& record) {
  ApiMeta m;
  m.model = record.model;
  m.created = static_cast<int64_t>(record.created_ms / 1000);
  m.id = "cmpl-" + record.job_id;
  return m;
}

std::string api_finish_reason(const schemas::JobRecord& record) {
  return record.finish_reason == "length" ? "length" : "stop";
}

std::string api_finish_reason(const ApiMeta& meta, const schemas::JobRecord& record) {
  return meta.scoring_only ? "length" : api_finish_reason(record);
}

schemas::Usage api_usage(const ApiMeta& meta, const schemas::Usage& usage) {
  schemas::Usage u = usage;
  if (meta.scoring_only) u.completion_tokens = 0;
  return u;
}

std::string completion_chunk(const ApiMeta& meta, const TextPiece* piece,
                             const std::string& finish_reason) {
  ojson choice = {
      {"index", meta.index},
      {"text", piece != nullptr ? piece->text : std::string()},
      {"logprobs", meta.logprobs && piece != nullptr ? logprobs_json(meta, *piece) : ojson(nullptr)},
      {"finish_reason", finish_reason.empty() ? ojson(nullptr) : ojson(finish_reason)}};
  return json_text(ojson{{"id", meta.id},
                        {"object", "text_completion"},
                        {"created", meta.created},
                        {"model", meta.model},
                        {"choices", ojson::array({choice})}});
}

std::string usage_chunk(const ApiMeta& meta, const schemas::Usage& usage) {
  return json_text(ojson{{"id", meta.id},
                        {"object", "text_completion"},
                        {"created", meta.created},
                        {"model", meta.model},
                        {"choices", ojson::array()},
                        {"usage", usage_json(api_usage(meta, usage))}});
}

std::string completion_response(const ApiMeta& meta, const std::vector<ChoiceResult>& choices) {
  ojson out_choices = ojson::array();
  schemas::Usage usage;
  for (const auto& c : choices) {
    out_choices.push_back({{"index", c.index},
                           {"text", c.piece.text},
                           {"logprobs", meta.logprobs ? logprobs_json(meta, c.piece) : ojson(nullptr)},
                           {"finish_reason", api_finish_reason(meta, c.record)}});
    usage.prompt_tokens += c.record.usage.prompt_tokens;
    usage.completion_tokens += api_usage(meta, c.record.usage).completion_tokens;
  }
  return json_text(ojson{{"id", meta.id},
                        {"object", "text_completion"},
                        {"created", meta.created},
                        {"model", meta.model},
                        {"choices", out_choices},
                        {"usage", usage_json(usage)}});
}

}  // namespace rs::gateway
