// The text_completion format: UTF-8-boundary pieces whose ids let a replay resume exactly,
// api_meta round trips, and the JSON of chunks and responses.
#include "completion_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace rs::gateway {
namespace {

using nlohmann::json;

schemas::TokenEntry entry(uint64_t seq, std::string text) {
  return schemas::TokenEntry{.job_id = "j",
                             .attempt = 1,
                             .seq = seq,
                             .token = static_cast<int32_t>(seq),
                             .text = std::move(text),
                             .logprob = -0.5f};
}

TEST(CompletionFormatTest, SanitizeKeepsValidTextAndReplacesTheRest) {
  bool complete = false;
  EXPECT_EQ(sanitize_utf8("h\xC3\xA9llo", &complete), "h\xC3\xA9llo");
  EXPECT_TRUE(complete);
  EXPECT_EQ(sanitize_utf8("a\xE2\x82", &complete), "a\xEF\xBF\xBD");
  EXPECT_FALSE(complete);
  EXPECT_EQ(sanitize_utf8("a\xFF"
                          "b",
                          &complete),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_TRUE(complete);
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80", &complete).find("\xED\xA0"),
            std::string::npos);  // surrogate
}

TEST(CompletionFormatTest, APieceWaitsForTheRestOfACharacter) {
  ChoiceAssembler a;
  std::vector<TextPiece> out;
  a.add(entry(0, "Caf"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "Caf");
  EXPECT_EQ(out[0].last_seq, 0u);
  a.add(entry(1, "\xC3"), out);  // half of é
  EXPECT_EQ(out.size(), 1u);
  a.add(entry(2, "\xA9!"), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].text, "\xC3\xA9!");
  EXPECT_EQ(out[1].last_seq, 2u);
  EXPECT_EQ(out[1].tokens.size(), 2u);
  EXPECT_EQ(out[1].text_offsets, (std::vector<int64_t>{3, 4}));
  a.add(entry(4, "skipped: not next"), out);
  EXPECT_EQ(out.size(), 2u);
  a.add(entry(3, "\xE2\x82"), out);
  auto tail = a.flush();
  ASSERT_TRUE(tail.has_value());
  EXPECT_EQ(tail->text, "\xEF\xBF\xBD");
}

// The property resume rests on: for any split of a token stream into deliveries and any
// event id the client saw, a replay from seq 0 skipping through that id yields exactly the
// text the original stream sent after it.
TEST(CompletionFormatTest, AReplayResumesExactlyAfterAnyEventId) {
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {"a",    "\xC3", "\xA9",         "b ", "\xF0\x9F",
                                           "\x98", "\x80", "\xE2\x82\xAC", "z"};
  for (int round = 0; round < 50; ++round) {
    std::vector<schemas::TokenEntry> tokens;
    for (uint64_t i = 0; i < 40; ++i) tokens.push_back(entry(i, pieces[rng() % pieces.size()]));
    ChoiceAssembler original;
    std::vector<TextPiece> events;
    for (const auto& t : tokens) original.add(t, events);
    if (auto tail = original.flush()) events.push_back(*tail);
    for (size_t cut = 0; cut < events.size(); ++cut) {
      std::string expected;
      for (size_t k = cut + 1; k < events.size(); ++k) expected += events[k].text;
      ChoiceAssembler replay(events[cut].last_seq);
      std::vector<TextPiece> again;
      for (const auto& t : tokens) replay.add(t, again);
      if (auto tail = replay.flush()) again.push_back(*tail);
      std::string got;
      for (const auto& p : again) got += p.text;
      ASSERT_EQ(got, expected) << "round " << round << " cut after event " << cut;
      if (!again.empty()) {
        EXPECT_GT(again.front().last_seq, events[cut].last_seq);
      }
    }
  }
}

TEST(CompletionFormatTest, ApiMetaRoundTripsAndForeignTextIsNotOne) {
  ApiMeta m{.model = "tiny",
            .created = 1700000000,
            .id = "cmpl-x",
            .index = 3,
            .logprobs = true,
            .include_usage = true,
            .background = true};
  auto back = decode_api_meta(encode_api_meta(m));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->model, "tiny");
  EXPECT_EQ(back->index, 3u);
  EXPECT_TRUE(back->logprobs && back->include_usage && back->background);
  EXPECT_FALSE(decode_api_meta("").has_value());
  EXPECT_FALSE(decode_api_meta("not json").has_value());
  EXPECT_FALSE(decode_api_meta("[1]").has_value());
  EXPECT_FALSE(decode_api_meta(R"({"index":"three"})").has_value());
  // Found by fuzz/gateway_json: a float out of an integer field's range was converted (UB).
  EXPECT_FALSE(decode_api_meta(R"({"created":1.7e39})").has_value());
  EXPECT_FALSE(decode_api_meta(R"({"index":1e20})").has_value());
  EXPECT_FALSE(decode_api_meta(R"({"index":-1})").has_value());
  EXPECT_FALSE(decode_api_meta(R"({"top_logprobs":4294967296})").has_value());
  EXPECT_FALSE(decode_api_meta(R"({"created":18446744073709551615})").has_value());
  EXPECT_EQ(decode_api_meta(R"({"created":-5,"top_logprobs":99})")->created, -5);
  EXPECT_EQ(decode_api_meta(R"({"top_logprobs":99})")->top_logprobs, 20u);
}

TEST(CompletionFormatTest, ChunksAndResponsesHaveOpenAIsShape) {
  ApiMeta m{.model = "tiny", .created = 5, .id = "cmpl-x", .index = 1, .logprobs = true};
  TextPiece p{.text = "hi",
              .tokens = {"h", "i"},
              .logprobs = {-0.1f, -0.2f},
              .text_offsets = {0, 1},
              .last_seq = 1};
  json c = json::parse(completion_chunk(m, &p, ""));
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["choices"][0]["index"], 1);
  EXPECT_EQ(c["choices"][0]["text"], "hi");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(c["choices"][0]["logprobs"]["tokens"].size(), 2u);
  json end = json::parse(completion_chunk(m, nullptr, "length"));
  EXPECT_EQ(end["choices"][0]["finish_reason"], "length");
  json u = json::parse(usage_chunk(m, schemas::Usage{.prompt_tokens = 3, .completion_tokens = 4}));
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["total_tokens"], 7);
  schemas::JobRecord rec;
  rec.finish_reason = "stop";
  rec.usage.prompt_tokens = 2;
  rec.usage.completion_tokens = 2;
  m.logprobs = false;
  json r =
      json::parse(completion_response(m, {ChoiceResult{.index = 0, .piece = p, .record = rec}}));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(r["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(r["usage"]["total_tokens"], 4);
}

// echo: seq 0's prompt tokens come first in its piece (the first one's logprob null), each
// position's alternatives as OpenAI's {text: logprob} maps, offsets into the whole text.
schemas::TokenEntry echo_entry0() {
  schemas::TokenEntry e = entry(0, " upon");
  e.top = {{0, " upon", -0.5f}, {9, " a", -1.5f}, {8, " upon", -3.0f}};  // a repeated text
  e.prompt = {{1, "", 0.0f, {}},
              {5, " Once", -2.0f, {{5, " Once", -2.0f}, {6, " One", -2.5f}}}};
  return e;
}

TEST(CompletionFormatTest, EchoPutsThePromptFirstWithANullFirstLogprob) {
  ChoiceAssembler a(std::nullopt, /*echo=*/true);
  std::vector<TextPiece> pieces;
  a.add(echo_entry0(), pieces);
  schemas::TokenEntry e1 = entry(1, " time");
  e1.top = {{1, " time", -0.25f}};
  a.add(e1, pieces);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].last_seq, 0u);
  const TextPiece all = join_pieces(pieces);
  EXPECT_EQ(all.text, " Once upon time");
  EXPECT_EQ(all.tokens, (std::vector<std::string>{"", " Once", " upon", " time"}));
  EXPECT_EQ(all.text_offsets, (std::vector<int64_t>{0, 0, 5, 10}));

  ApiMeta m{.model = "tiny", .id = "cmpl-x", .logprobs = true, .top_logprobs = 2, .echo = true};
  schemas::JobRecord rec;
  rec.finish_reason = "length";
  rec.usage.prompt_tokens = 2;
  rec.usage.completion_tokens = 2;
  const json r = json::parse(completion_response(m, {ChoiceResult{.index = 0, .piece = all, .record = rec}}));
  const json& lp = r["choices"][0]["logprobs"];
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_EQ(lp["token_logprobs"][1], -2.0);
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  EXPECT_EQ(lp["top_logprobs"][1], (json{{" Once", -2.0}, {" One", -2.5}}));
  EXPECT_EQ(lp["top_logprobs"][2], (json{{" upon", -0.5}, {" a", -1.5}}));  // the first 2
  EXPECT_EQ(lp["top_logprobs"][3], (json{{" time", -0.25}}));
  EXPECT_EQ(r["usage"]["completion_tokens"], 2);
  {  // as OpenAI: each map's keys in likelihood order (not alphabetical)
    const auto ordered = nlohmann::ordered_json::parse(
        completion_response(m, {ChoiceResult{.index = 0, .piece = all, .record = rec}}));
    EXPECT_EQ(ordered["choices"][0]["logprobs"]["top_logprobs"][2].begin().key(), " upon");
  }

  // logprobs 0: no alternatives (an empty list, as before alternatives existed).
  m.top_logprobs = 0;
  const json z = json::parse(completion_chunk(m, &all, ""));
  EXPECT_EQ(z["choices"][0]["logprobs"]["top_logprobs"], json::array());

  // A replay after event id 0 (the piece with the prompt) is only the rest.
  ChoiceAssembler resumed(uint64_t{0}, true);
  std::vector<TextPiece> rest;
  resumed.add(echo_entry0(), rest);
  resumed.add(e1, rest);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].text, " time");
}

// max_tokens 0 with echo: the one token the job ran is not shown; the choice is the prompt,
// finish_reason length, no completion tokens; api_meta carries the flags to any gateway.
TEST(CompletionFormatTest, ScoringOnlyShowsThePromptAlone) {
  ChoiceAssembler a(std::nullopt, true, /*drop_completion=*/true);
  std::vector<TextPiece> pieces;
  a.add(echo_entry0(), pieces);
  EXPECT_FALSE(a.flush().has_value());
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].text, " Once");
  EXPECT_EQ(pieces[0].tokens.size(), 2u);
  ApiMeta m{.model = "tiny", .id = "cmpl-x", .logprobs = true, .top_logprobs = 1, .echo = true,
            .scoring_only = true};
  auto back = decode_api_meta(encode_api_meta(m));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->top_logprobs, 1u);
  EXPECT_TRUE(back->echo && back->scoring_only);
  schemas::JobRecord rec;
  rec.finish_reason = "stop";  // its one token was an end of generation
  rec.usage.prompt_tokens = 2;
  rec.usage.completion_tokens = 1;
  const json r = json::parse(completion_response(m, {ChoiceResult{.index = 0, .piece = pieces[0], .record = rec}}));
  EXPECT_EQ(r["choices"][0]["text"], " Once");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["completion_tokens"], 0);
  EXPECT_EQ(r["usage"]["total_tokens"], 2);
  EXPECT_EQ(r["choices"][0]["logprobs"]["top_logprobs"][1], (json{{" Once", -2.0}}));
  EXPECT_EQ(json::parse(usage_chunk(m, rec.usage))["usage"]["completion_tokens"], 0);
}

}  // namespace
}  // namespace rs::gateway
