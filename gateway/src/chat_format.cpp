// chat.completion.chunk and chat.completion JSON.
#include "chat_format.h"

#include "json_text.h"

namespace rs::gateway {

using nlohmann::json;

namespace {

constexpr const char* kChunkObject = "chat.completion.chunk";

// logprobs.content: one entry per token (its raw bytes too; no alternatives).
json chat_logprobs(const TextPiece& piece) {
  json content = json::array();
  for (size_t i = 0; i < piece.tokens.size(); ++i) {
    json bytes = json::array();
    if (i < piece.token_bytes.size()) {
      for (unsigned char b : piece.token_bytes[i]) bytes.push_back(static_cast<int>(b));
    }
    content.push_back({{"token", piece.tokens[i]},
                       {"logprob", i < piece.logprobs.size() ? piece.logprobs[i] : 0.0f},
                       {"bytes", bytes},
                       {"top_logprobs", json::array()}});
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
               meta.logprobs ? chat_logprobs(piece) : json(nullptr), nullptr);
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
                           {"logprobs", meta.logprobs ? chat_logprobs(c.piece) : json(nullptr)},
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
