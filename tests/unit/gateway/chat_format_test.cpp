// The chat.completion format: chunk and response shapes, the error a failed chat job shows,
// and the property durable resume rests on for chat: the events of a resume after any event
// id are exactly the tail of the whole stream (the role chunk only from the start).
#include "chat_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "response_format.h"
#include "rs/schemas/errors.h"

namespace rs::gateway {
namespace {

using nlohmann::json;

schemas::TokenEntry chat_entry(uint64_t seq, std::string text) {
  return schemas::TokenEntry{.job_id = "j",
                             .attempt = 1,
                             .seq = seq,
                             .token = static_cast<int32_t>(seq),
                             .text = std::move(text),
                             .logprob = -0.25f};
}

ApiMeta chat_meta(bool logprobs = false, bool include_usage = false) {
  return ApiMeta{.kind = std::string(kChatCompletion),
                 .model = "m",
                 .created = 7,
                 .id = "chatcmpl-x",
                 .index = 1,
                 .logprobs = logprobs,
                 .include_usage = include_usage};
}

json data_of(const std::string& event) {
  const size_t at = event.find("data: ");
  EXPECT_NE(at, std::string::npos) << event;
  return json::parse(event.substr(at + 6));
}

TEST(ChatFormatTest, ChunksHaveOpenAIsShape) {
  const ApiMeta m = chat_meta(true);
  json role = json::parse(chat_role_chunk(m));
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["id"], "chatcmpl-x");
  EXPECT_EQ(role["created"], 7);
  EXPECT_EQ(role["model"], "m");
  EXPECT_EQ(role["choices"][0]["index"], 1);
  EXPECT_EQ(role["choices"][0]["delta"], (json{{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  TextPiece p{.text = "h\xC3\xA9",
              .tokens = {"h", "\xC3\xA9"},
              .token_bytes = {"h", "\xC3\xA9"},
              .logprobs = {-0.1f, -0.2f},
              .last_seq = 1};
  json c = json::parse(chat_content_chunk(m, p));
  EXPECT_EQ(c["choices"][0]["delta"], (json{{"content", "h\xC3\xA9"}}));
  const json& lp = c["choices"][0]["logprobs"];
  EXPECT_TRUE(lp["refusal"].is_null());
  ASSERT_EQ(lp["content"].size(), 2u);
  EXPECT_EQ(lp["content"][1]["token"], "\xC3\xA9");
  EXPECT_EQ(lp["content"][1]["bytes"], (json{0xC3, 0xA9}));
  EXPECT_FLOAT_EQ(lp["content"][1]["logprob"].get<float>(), -0.2f);
  EXPECT_TRUE(lp["content"][1]["top_logprobs"].empty());
  json end = json::parse(chat_final_chunk(m, "length"));
  EXPECT_TRUE(end["choices"][0]["delta"].empty());
  EXPECT_EQ(end["choices"][0]["finish_reason"], "length");
  json u =
      json::parse(chat_usage_chunk(m, schemas::Usage{.prompt_tokens = 3, .completion_tokens = 4}));
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["total_tokens"], 7);
  EXPECT_TRUE(
      json::parse(chat_content_chunk(chat_meta(false), p))["choices"][0]["logprobs"].is_null());
}

TEST(ChatFormatTest, AWholeResponseIsAChatCompletion) {
  schemas::JobRecord rec;
  rec.state = schemas::JobState::kSucceeded;
  rec.finish_reason = "stop";
  rec.usage.prompt_tokens = 5;
  rec.usage.completion_tokens = 2;
  TextPiece p{.text = "ok", .tokens = {"o", "k"}, .token_bytes = {"o", "k"}, .logprobs = {-1, -2}};
  json r = json::parse(
      whole_response(chat_meta(), {ChoiceResult{.index = 0, .piece = p, .record = rec},
                                   ChoiceResult{.index = 1, .piece = TextPiece{}, .record = rec}}));
  EXPECT_EQ(r["object"], "chat.completion");
  ASSERT_EQ(r["choices"].size(), 2u);
  EXPECT_EQ(r["choices"][0]["message"],
            (json{{"role", "assistant"}, {"content", "ok"}, {"refusal", nullptr}}));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(r["choices"][1]["message"]["content"], "");
  EXPECT_EQ(r["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(r["usage"]["total_tokens"], 14);
  json with_lp =
      json::parse(whole_response(chat_meta(true), {ChoiceResult{.piece = p, .record = rec}}));
  EXPECT_EQ(with_lp["choices"][0]["logprobs"]["content"].size(), 2u);
  // A cancelled job shows "stop", as in completions.
  rec.finish_reason = "cancelled";
  EXPECT_EQ(json::parse(whole_response(
                chat_meta(), {ChoiceResult{.record = rec}}))["choices"][0]["finish_reason"],
            "stop");
}

TEST(ChatFormatTest, ARenderFailureOrALongPromptIsA400OnChatOnly) {
  using schemas::ErrorCode;
  ApiError render = api_error_for(
      chat_meta(), schemas::wire_error(ErrorCode::kInvalidArgument, "template: no such filter"));
  EXPECT_EQ(render.status, 400);
  EXPECT_EQ(render.type, "invalid_request_error");
  EXPECT_EQ(render.param, "messages");
  EXPECT_NE(render.message.find("no such filter"), std::string::npos);
  ApiError longer = api_error_for(chat_meta(), schemas::wire_error(ErrorCode::kPromptTooLong, "x"));
  EXPECT_EQ(longer.status, 400);
  EXPECT_EQ(longer.code, "context_length_exceeded");
  EXPECT_EQ(api_error_for(chat_meta(), schemas::wire_error(ErrorCode::kTooLarge, "x")).status, 400);
  EXPECT_EQ(api_error_for(chat_meta(), schemas::wire_error(ErrorCode::kQueueFull, "x")).status,
            429);
  EXPECT_EQ(api_error_for(ApiMeta{}, schemas::wire_error(ErrorCode::kPromptTooLong, "x")).status,
            413);  // completions: unchanged
  EXPECT_TRUE(head_waits_for_every_choice(chat_meta()));
  EXPECT_FALSE(head_waits_for_every_choice(ApiMeta{}));
}

TEST(ChatFormatTest, AChatStreamOpensWithTheRoleChunkAndEndsWithFinishAndUsage) {
  ChoiceEvents whole(chat_meta(false, true));
  std::vector<std::string> events;
  whole.add(chat_entry(0, "Hi"), events);
  whole.add(chat_entry(1, " there"), events);
  schemas::JobRecord rec;
  rec.state = schemas::JobState::kSucceeded;
  rec.finish_reason = "length";
  rec.usage = {.prompt_tokens = 4, .completion_tokens = 2};
  whole.end(rec, events);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].rfind("data: ", 0), 0u);  // the role chunk has no id
  EXPECT_EQ(data_of(events[0])["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(events[1].rfind("id: 0\n", 0), 0u);
  EXPECT_EQ(data_of(events[2])["choices"][0]["delta"]["content"], " there");
  EXPECT_EQ(data_of(events[3])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(data_of(events[4])["usage"]["completion_tokens"], 2);
  // A job that failed before its first token had no stream: no role chunk, the error.
  ChoiceEvents failed(chat_meta());
  std::vector<std::string> fe;
  rec.state = schemas::JobState::kFailed;
  rec.error_code = schemas::ErrorCode::kInvalidArgument;
  rec.error = "no chat template";
  failed.end(rec, fe);
  ASSERT_EQ(fe.size(), 1u);
  EXPECT_EQ(data_of(fe[0])["error"]["param"], "messages");
  // A job that succeeded without a token still opens.
  ChoiceEvents empty(chat_meta());
  std::vector<std::string> ee;
  rec.state = schemas::JobState::kSucceeded;
  empty.end(rec, ee);
  ASSERT_EQ(ee.size(), 2u);
  EXPECT_EQ(data_of(ee[0])["choices"][0]["delta"]["role"], "assistant");
}

// For any token stream and any event id a client saw, a resume after it yields exactly the
// events of the whole stream after that event; from the start, the whole stream.
TEST(ChatFormatTest, AResumeAfterAnyEventIdIsTheTailOfTheWholeStream) {
  std::mt19937 rng(11);
  const std::vector<std::string> pieces = {"a",    "\xC3", "\xA9",         "b ", "\xF0\x9F",
                                           "\x98", "\x80", "\xE2\x82\xAC", "z"};
  schemas::JobRecord rec;
  rec.state = schemas::JobState::kSucceeded;
  rec.finish_reason = "stop";
  rec.usage = {.prompt_tokens = 9, .completion_tokens = 30};
  for (int round = 0; round < 40; ++round) {
    std::vector<schemas::TokenEntry> tokens;
    for (uint64_t i = 0; i < 30; ++i)
      tokens.push_back(chat_entry(i, pieces[rng() % pieces.size()]));
    const ApiMeta meta = chat_meta(round % 2 == 0, round % 3 == 0);
    ChoiceEvents original(meta);
    std::vector<std::string> whole;
    for (const auto& t : tokens) original.add(t, whole);
    original.end(rec, whole);
    ChoiceEvents from_start(meta);
    std::vector<std::string> again;
    for (const auto& t : tokens) from_start.add(t, again);
    from_start.end(rec, again);
    ASSERT_EQ(again, whole) << "round " << round;
    for (size_t cut = 0; cut < whole.size(); ++cut) {
      if (whole[cut].rfind("id: ", 0) != 0) continue;  // only events with an id
      const uint64_t id = std::stoull(whole[cut].substr(4));
      ChoiceEvents resumed(meta, id);
      std::vector<std::string> tail;
      for (const auto& t : tokens) resumed.add(t, tail);
      resumed.end(rec, tail);
      const std::vector<std::string> expected(whole.begin() + static_cast<long>(cut) + 1,
                                              whole.end());
      ASSERT_EQ(tail, expected) << "round " << round << " after id " << id;
    }
  }
}

// top_logprobs N: each content item lists N alternatives {token, logprob, bytes}.
TEST(ChatFormatTest, TopLogprobsListAlternativesWithTheirBytes) {
  ApiMeta m{.kind = std::string(kChatCompletion), .model = "tiny", .id = "chatcmpl-x",
            .logprobs = true, .top_logprobs = 2};
  TextPiece p{.text = "Hi",
              .tokens = {"Hi"},
              .token_bytes = {"Hi"},
              .logprobs = {-0.5f},
              .top = {{{7, "Hi", -0.5f}, {8, "\xe2\x82", -1.0f}, {9, "Yo", -2.0f}}},
              .text_offsets = {0},
              .last_seq = 0};
  const json c = json::parse(chat_content_chunk(m, p));
  const json& item = c["choices"][0]["logprobs"]["content"][0];
  ASSERT_EQ(item["top_logprobs"].size(), 2u);
  EXPECT_EQ(item["top_logprobs"][0], (json{{"token", "Hi"}, {"logprob", -0.5}, {"bytes", {72, 105}}}));
  EXPECT_EQ(item["top_logprobs"][1]["token"], "\xEF\xBF\xBD");  // a partial character
  EXPECT_EQ(item["top_logprobs"][1]["bytes"], (json{0xe2, 0x82}));
  m.top_logprobs = 0;
  EXPECT_TRUE(json::parse(chat_content_chunk(m, p))["choices"][0]["logprobs"]["content"][0]["top_logprobs"].empty());
}

}  // namespace
}  // namespace rs::gateway
