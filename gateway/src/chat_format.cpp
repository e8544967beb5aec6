// chat.completion.chunk and chat.completion JSON.
#include "chat_format.h"

#include "json_text.h"

namespace rs::gateway {

using nlohmann::json;

namespace {

constexpr const char* kChunkObject = "chat.completion.chunk";

json bytes_json(const std::string& raw) {
  json bytes = json::array();
  for (unsigned char b : raw) bytes.push_back(static_cast<int>(b));
  return bytes;
}

// logprobs.content: one entry per token, its raw bytes too, and meta.top_logprobs
// alternatives ({token, logprob, bytes}, most likely first).
json chat_logprobs(const ApiMeta& meta, const TextPiece& piece) {
  json content = json::array();
  for (size_t i = 0; i < piece.tokens.size(); ++i) {
    json top = json::array();
    if (i < piece.top.size()) {
      for (size_t k = 0; k < piece.top[i].size() && k < meta.top_logprobs; ++k) {
        const schemas::TokenAlt& a = piece.top[i][k];
        top.push_back({{"token", sanitize_utf8(a.text)}, {"logprob", a.logprob}, {"bytes", bytes_json(a.text)}});
      }
    }
    content.push_back({{"token", piece.tokens[i]},
                       {"logprob", i < piece.logprobs.size() ? piece.logprobs[i] : 0.0f},
                       {"bytes", i < piece.token_bytes.size() ? bytes_json(piece.token_bytes[i]) : json::array()},
                       {"top_logprobs", std::move(top)}});
  }
  return json{{"content", content}, {"refusal", nullptr}};
}

std::string chunk(const ApiMeta& meta, json delta, json logprobs, json finish_reason) {
  json choice = {{"index", meta.index},
                 {"delta", std::move(delta)},
                 {"logprobs", std::move(logprobs)},
                 {"finish_reason", std::move(finish_reason)}};
  return json_text(json{{"id", meta.id},
                        {"object", kChunkObject},
                        {"created", meta.created},
                        {"model", meta.model},
                        {"choices", json::array({std::move(choice)})}});
}

}  // namespace

std::string chat_role_chunk(const ApiMeta& meta) {
  return chunk(meta, json{{"role", "assistant"}, {"content", ""}}, nullptr, nullptr);
}

std::string chat_content_chunk(const ApiMeta& meta, const TextPiece& piece) {
  return chunk(meta, json{{"content", piece.text}},
               meta.logprobs ? chat_logprobs(meta, piece) : json(nullptr), nullptr);
}

std::string chat_final_chunk(const ApiMeta& meta, const std::string& finish_reason) {
  return chunk(meta, json::object(), nullptr, finish_reason);
}

std::string chat_usage_chunk(const ApiMeta& meta, const schemas::Usage& usage) {
  return json_text(json{{"id", meta.id},
                        {"object", kChunkObject},
                        {"created", meta.created},
                        {"model", meta.model},
                        {"choices", json::array()},
                        {"usage", usage_json(usage)}});
}

std::string chat_response(const ApiMeta& meta, const std::vector<ChoiceResult>& choices) {
  json out_choices = json::array();
  schemas::Usage usage;
  for (const auto& c : choices) {
    json message = {{"role", "assistant"}, {"content", c.piece.text}, {"refusal", nullptr}};
    out_choices.push_back({{"index", c.index},
                           {"message", std::move(message)},
                           {"logprobs", meta.logprobs ? chat_logprobs(meta, c.piece) : json(nullptr)},
                           {"finish_reason", api_finish_reason(c.record)}});
    usage.prompt_tokens += c.record.usage.prompt_tokens;
    usage.completion_tokens += c.record.usage.completion_tokens;
  }
  return json_text(json{{"id", meta.id},
                        {"object", kChatCompletion},
                        {"created", meta.created},
                        {"model", meta.model},
                        {"choices", std::move(out_choices)},
                        {"usage", usage_json(usage)}});
}

}  // namespace rs::gateway
