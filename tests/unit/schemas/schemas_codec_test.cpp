// Round trips of every message, limits, type checks and frame parsing.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <msgpack.hpp>

#include "rs/schemas/codec.h"
#include "rs/schemas/frames.h"
#include "rs/schemas/model_ref.h"

namespace rs::schemas {
namespace {

SubmitRequest sample_submit() {
  SubmitRequest r;
  r.request_id = 42;
  r.model = "tiny";
  r.prompt = std::string("hello \0 world", 13);
  r.sampling = {0.7f, 40, 0.9f, 0.05f, 1.1f, 1234567890123ull};
  r.max_tokens = 64;
  r.stop = {"\n\n", "</s>"};
  r.priority = Priority::kBatch;
  r.affinity_key = "user-7";
  r.session_id = "s1";
  r.idempotency_key = "idem-1";
  r.stream = false;
  r.api_meta = R"({"object":"chat.completion","n":1})";
  r.detach = true;
  r.tenant = "acme";
  r.expires_ms = 1500;
  return r;
}

JobRecord sample_record() {
  JobRecord j;
  j.job_id = "j-1";
  j.state = JobState::kSucceeded;
  j.model = "tiny";
  j.model_version = 3;
  j.priority = Priority::kBatch;
  j.worker = "w1";
  j.device = 1;
  j.attempt = 2;
  j.usage = {10, 20, 1.5, 3.25, 120.5};
  j.error_code = ErrorCode::kWorkerLost;
  j.error = "first worker died";
  j.created_ms = 1;
  j.dispatched_ms = 2;
  j.started_ms = 3;
  j.finished_ms = 4;
  j.api_meta = R"({"object":"text_completion"})";
  j.tenant = "acme";
  j.detach = true;
  j.finish_reason = "length";
  return j;
}

std::vector<Message> all_messages() {
  TokenEntry e{"j-1", 1, 5, -3, "\xe2\x82", -0.6931472f};
  return {
      sample_submit(), CancelRequest{1, "j"}, SubscribeRequest{2, "j", 17}, StatusRequest{3, "j"},
      WorkersRequest{4}, Ping{5}, Accepted{6, "j", true},
      Rejected{7, ErrorCode::kQueueFull, "queue full"}, TokenBatch{{e, e}}, Done{sample_record()},
      StatusReply{8, sample_record()},
      WorkersReply{9, {DeviceStatus{"w", 0, {"a", "b"}, 1, 4, 3, 99}}},
      ErrorReply{10, ErrorCode::kNotFound, "no job", "j"}, Pong{11, 12345},
      WorkerReady{"w1", {DeviceInfo{0, {"tiny"}, 8, 8}, DeviceInfo{1, {}, 0, 8}}, 500},
      WorkerHeartbeat{"w1", {DeviceLoad{0, 1, 2, 3, 4, false, {}}, DeviceLoad{1, 1, 2, 3, 4, true, {"tiny@2", "big"}}}}, WorkerTokens{{e}},
      WorkerDone{"j", 1, 0, {1, 2, 3, 4, 5}, "stop"},
      WorkerFailed{"j", 2, 1, ErrorCode::kInternal, "boom"}, WorkerDisconnect{"w1", "bye"},
      Dispatch{"j", 3, 1, sample_submit(), 99, {1, -2, 0x7fffffff}}, CancelJob{"j", 3, 1}, BrokerHeartbeat{77},
      BrokerDisconnect{"shutdown"},
  };
}

TEST(Codec, EveryMessageRoundTripsThroughFrames) {
  auto messages = all_messages();
  ASSERT_EQ(messages.size(), std::variant_size_v<Message>);
  for (const Message& m : messages) {
    Frames f = to_frames(m);
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0], std::string("RSP\x01"));
    EXPECT_EQ(static_cast<uint8_t>(f[1][0]), static_cast<uint8_t>(message_command(m)));
    auto back = parse_frames(f);
    ASSERT_TRUE(back.ok()) << command_name(message_command(m)) << ": " << back.status().to_string();
    EXPECT_TRUE(*back == m) << command_name(message_command(m));
  }
}

TEST(Codec, ResumeTokensMustBeInt32s) {
  Dispatch d{"j", 2, 0, sample_submit(), 0, {5, 6}};
  ASSERT_TRUE(decode<Dispatch>(encode(d)).ok());
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(5);
  pk.pack(std::string("job_id")); pk.pack(std::string("j"));
  pk.pack(std::string("attempt")); pk.pack(2);
  pk.pack(std::string("device")); pk.pack(0);
  pk.pack(std::string("request")); pk.pack_map(2);
  pk.pack(std::string("model")); pk.pack(std::string("m"));
  pk.pack(std::string("prompt")); pk.pack(std::string("p"));
  pk.pack(std::string("resume_tokens")); pk.pack_array(1); pk.pack(uint64_t{1} << 40);
  auto back = decode<Dispatch>(std::string(buf.data(), buf.size()));
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(wire_error_of(back.status()), ErrorCode::kBadMsgpack);
  EXPECT_NE(back.status().message().find("resume_tokens"), std::string::npos);
}

TEST(Codec, StandaloneRecordRoundTrips) {
  auto r = decode<JobRecord>(encode(sample_record()));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, sample_record());
}

TEST(Codec, DefaultsForOptionalFields) {
  SubmitRequest r;
  r.model = "m";
  r.prompt = "p";
  auto back = decode<SubmitRequest>(encode(r));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, r);
}

// The gateway's fields (api_meta, detach, tenant, logprob, finish_reason) survive a round
// trip, and a message from an older peer that lacks them decodes with their defaults.
TEST(Codec, GatewayFieldsRoundTripAndMayBeMissing) {
  auto submit = decode<SubmitRequest>(encode(sample_submit()));
  ASSERT_TRUE(submit.ok()) << submit.status().to_string();
  EXPECT_EQ(submit->api_meta, R"({"object":"chat.completion","n":1})");
  EXPECT_TRUE(submit->detach);
  EXPECT_EQ(submit->tenant, "acme");
  auto record = decode<JobRecord>(encode(sample_record()));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->finish_reason, "length");
  EXPECT_EQ(record->tenant, "acme");
  EXPECT_TRUE(record->detach);
  auto entry = decode<TokenEntry>(encode(TokenEntry{"j", 1, 2, 3, "x", -1.25f}));
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->logprob, -1.25f);

  // {"model": "m", "prompt": "p"}
  auto old_submit = decode<SubmitRequest>(std::string("\x82\xa5model\xa1m\xa6prompt\xa1p"));
  ASSERT_TRUE(old_submit.ok()) << old_submit.status().to_string();
  EXPECT_EQ(old_submit->api_meta, "");
  EXPECT_FALSE(old_submit->detach);
  EXPECT_EQ(old_submit->tenant, "");
  // {"job_id": "j", "seq": 1, "token": 2}
  auto old_entry = decode<TokenEntry>(std::string("\x83\xa6job_id\xa1j\xa3seq\x01\xa5token\x02"));
  ASSERT_TRUE(old_entry.ok()) << old_entry.status().to_string();
  EXPECT_EQ(old_entry->logprob, 0.0f);
  // {"job_id": "j", "state": "SUCCEEDED"}
  auto old_record = decode<JobRecord>(std::string("\x82\xa6job_id\xa1j\xa5state\xa9SUCCEEDED"));
  ASSERT_TRUE(old_record.ok()) << old_record.status().to_string();
  EXPECT_EQ(old_record->finish_reason, "");
  EXPECT_EQ(old_record->api_meta, "");
  EXPECT_EQ(old_record->tenant, "");
  EXPECT_FALSE(old_record->detach);
  // nil means the default too: {"model": "m", "prompt": "p", "detach": nil}
  auto nil_detach =
      decode<SubmitRequest>(std::string("\x83\xa5model\xa1m\xa6prompt\xa1p\xa6"
                                        "detach\xc0"));
  ASSERT_TRUE(nil_detach.ok()) << nil_detach.status().to_string();
  EXPECT_FALSE(nil_detach->detach);
}

TokenEntry entry_with_logprobs() {
  TokenEntry e{"j", 2, 0, 7, "lo", -0.5f};
  e.top = {{7, "lo", -0.5f}, {9, "\xe2\x82", -1.5f}};
  e.prompt = {{1, "", 0.0f, {}}, {42, " Once", -3.25f, {{40, " One", -1.0f}, {42, " Once", -3.25f}}}};
  return e;
}

// Alternatives and prompt logprobs round trip on TOKENS, WORKER_TOKENS, the Redis record,
// and SUBMIT's three fields; empty lists are not written at all (older peers see nothing new).
TEST(Codec, LogprobFieldsRoundTrip) {
  const TokenEntry e = entry_with_logprobs();
  auto batch = decode<TokenBatch>(encode(TokenBatch{{e, TokenEntry{"j", 2, 1, 3, "x", -2.0f}}}));
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  EXPECT_EQ(batch->entries[0], e);
  EXPECT_TRUE(batch->entries[1].top.empty() && batch->entries[1].prompt.empty());
  auto worker = decode<WorkerTokens>(encode(WorkerTokens{{e}}));
  ASSERT_TRUE(worker.ok());
  EXPECT_EQ(worker->entries[0], e);
  TokenExtrasList extras{{TokenExtras{0, e.top, e.prompt}, TokenExtras{5, e.top, {}}}};
  auto back = decode<TokenExtrasList>(encode(extras));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, extras);
  EXPECT_EQ(encode(TokenEntry{"j", 1, 2, 3, "x", -1.25f}).find("top"), std::string::npos);

  SubmitRequest r = sample_submit();
  r.top_logprobs = 5;
  r.prompt_logprobs = true;
  r.prompt_top_logprobs = 20;
  auto submit = decode<SubmitRequest>(encode(r));
  ASSERT_TRUE(submit.ok()) << submit.status().to_string();
  EXPECT_EQ(*submit, r);
}

// A prompt of token ids: round trips, is absent from the encoding when empty, is bounded by
// max_prompt_tokens (prompt_too_long), and excludes a text prompt and a chat.
TEST(Codec, PromptIdsRoundTripAndAreChecked) {
  SubmitRequest r = sample_submit();
  r.prompt.clear();
  r.prompt_ids = {1, 0, 31999, 0x7fffffff};
  auto back = decode<SubmitRequest>(encode(r));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, r);
  EXPECT_TRUE(validate(r, Limits{}).ok());
  EXPECT_EQ(encode(sample_submit()).find("prompt_ids"), std::string::npos);

  Limits small;
  small.max_prompt_tokens = 3;
  auto over = decode<SubmitRequest>(encode(r), small);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(wire_error_of(over.status()), ErrorCode::kPromptTooLong);
  EXPECT_EQ(wire_error_of(validate(r, small)), ErrorCode::kPromptTooLong);

  SubmitRequest both = r;
  both.prompt = "text too";
  EXPECT_EQ(wire_error_of(validate(both, Limits{})), ErrorCode::kInvalidArgument);
  SubmitRequest chat = r;
  chat.chat_messages = R"([{"role":"user","content":"hi"}])";
  EXPECT_EQ(wire_error_of(validate(chat, Limits{})), ErrorCode::kInvalidArgument);
  SubmitRequest negative = r;
  negative.prompt_ids[1] = -5;
  EXPECT_EQ(wire_error_of(validate(negative, Limits{})), ErrorCode::kInvalidArgument);
}

// approx_wire_bytes bounds what an entry adds to a TOKENS body (senders cut batches by it).
TEST(Codec, ApproxWireBytesBoundsAnEntrysEncoding) {
  TokenEntry big = entry_with_logprobs();
  big.top.assign(20, TokenAlt{123456, "\xe2\x82", -123.456f});
  big.prompt.assign(300, PromptToken{70000, " word", -1.0e-7f, std::vector<TokenAlt>(20, TokenAlt{-5, "", -1e30f})});
  for (const TokenEntry& e : {TokenEntry{"job-1", 3, 1u << 30, -7, std::string(300, 'x'), -0.25f}, entry_with_logprobs(), big}) {
    const size_t one = encode(TokenBatch{{e}}).size();
    const size_t two = encode(TokenBatch{{e, e}}).size();
    EXPECT_LE(two - one, approx_wire_bytes(e));
    EXPECT_LE(one, approx_wire_bytes(e) + 16);
  }
}

TEST(Limits, LogprobCountsAreBounded) {
  SubmitRequest r = sample_submit();
  r.top_logprobs = 21;
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kTooLarge);
  r.top_logprobs = 0;
  r.prompt_top_logprobs = 21;
  r.prompt_logprobs = true;
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kTooLarge);
  r.prompt_top_logprobs = 3;
  r.prompt_logprobs = false;
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kInvalidArgument);

  TokenEntry e = entry_with_logprobs();
  e.top.assign(21, TokenAlt{1, "a", -1.0f});
  EXPECT_EQ(wire_error_of(decode<TokenBatch>(encode(TokenBatch{{e}})).status()), ErrorCode::kTooLarge);
  e = entry_with_logprobs();
  e.prompt[1].top.assign(21, TokenAlt{1, "a", -1.0f});
  EXPECT_EQ(wire_error_of(decode<WorkerTokens>(encode(WorkerTokens{{e}})).status()), ErrorCode::kTooLarge);
  Limits small;
  small.max_prompt_tokens = 1;
  EXPECT_EQ(wire_error_of(decode<TokenBatch>(encode(TokenBatch{{entry_with_logprobs()}}), small).status()),
            ErrorCode::kTooLarge);
  TokenExtrasList extras{{TokenExtras{0, std::vector<TokenAlt>(21, TokenAlt{1, "a", -1.0f}), {}}}};
  EXPECT_EQ(wire_error_of(decode<TokenExtrasList>(encode(extras)).status()), ErrorCode::kTooLarge);
  // A non-finite alternative is refused like any float.
  e = entry_with_logprobs();
  e.top[0].logprob = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(decode<TokenBatch>(encode(TokenBatch{{e}})).ok());
}

// A `lagged` ERROR carries the client's next seq (0 included); other errors omit the key,
// so what they encode is unchanged for older peers.
TEST(Codec, LaggedErrorCarriesNextSeqOtherErrorsOmitIt) {
  for (uint64_t next : {0ull, 41ull}) {
    ErrorReply lagged{0, ErrorCode::kLagged, "behind", "j", next};
    auto back = decode<ErrorReply>(encode(lagged));
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(*back, lagged);
    ASSERT_TRUE(back->next_seq.has_value());
    EXPECT_EQ(*back->next_seq, next);
  }
  const std::string plain = encode(ErrorReply{3, ErrorCode::kNotFound, "no job", "j"});
  EXPECT_EQ(plain.find("next_seq"), std::string::npos);
  auto back = decode<ErrorReply>(plain);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->next_seq.has_value());
}

TEST(Codec, MissingRequiredFieldIsInvalidArgument) {
  auto r = decode<SubmitRequest>(encode(Ping{1}));  // a map without model/prompt
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(wire_error_of(r.status()), ErrorCode::kInvalidArgument);
}

TEST(Codec, WrongFieldTypeIsBadMsgpack) {
  // {"job_id": 5}
  std::string body = "\x81\xa6job_id\x05";
  auto r = decode<CancelRequest>(body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(wire_error_of(r.status()), ErrorCode::kBadMsgpack);
  // not a map at all
  auto r2 = decode<CancelRequest>("\x93\x01\x02\x03");
  EXPECT_EQ(wire_error_of(r2.status()), ErrorCode::kBadMsgpack);
  // truncated and trailing garbage
  std::string good = encode(CancelRequest{1, "j"});
  EXPECT_EQ(wire_error_of(decode<CancelRequest>(good.substr(0, good.size() - 1)).status()), ErrorCode::kBadMsgpack);
  EXPECT_EQ(wire_error_of(decode<CancelRequest>(good + "x").status()), ErrorCode::kBadMsgpack);
  EXPECT_EQ(wire_error_of(decode<CancelRequest>("").status()), ErrorCode::kBadMsgpack);
}

TEST(Codec, IntegerRangesChecked) {
  // {"job_id":"j","attempt":-1} for CancelJob (attempt is uint32)
  std::string body = "\x82\xa6job_id\xa1j\xa7" "attempt\xff";
  EXPECT_EQ(wire_error_of(decode<CancelJob>(body).status()), ErrorCode::kInvalidArgument);
  // attempt = 2^32 (uint64 0xcf)
  std::string big = "\x82\xa6job_id\xa1j\xa7" "attempt\xcf" + std::string("\x00\x00\x00\x01\x00\x00\x00\x00", 8);
  EXPECT_EQ(wire_error_of(decode<CancelJob>(big).status()), ErrorCode::kInvalidArgument);
}

// msgpack-c converts exactly 2^64 to an integer out of range (undefined behaviour; the
// wire_worker fuzz target found it): the codec writes that value as a float itself.
TEST(Codec, TwoToThe64RoundTripsAsAFloat) {
  const double big = 18446744073709551616.0;
  WorkerDone d{"j", 1, 0, {1, 2, 0.5, big, 0}, "length"};
  auto back = decode<WorkerDone>(encode(d));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->usage.ttft_ms, big);
  WorkerTokens t;
  t.entries.push_back(TokenEntry{.job_id = "j", .attempt = 1, .seq = 0, .token = 3, .text = "x",
                                 .logprob = static_cast<float>(big)});
  auto tokens = decode<WorkerTokens>(encode(t));
  ASSERT_TRUE(tokens.ok()) << tokens.status().to_string();
  EXPECT_EQ(tokens->entries.at(0).logprob, static_cast<float>(big));
}

TEST(Codec, NonFiniteFloatsRefused) {
  WorkerDone d{"j", 1, 0, {1, 2, std::nan(""), 0, 0}, "stop"};
  EXPECT_EQ(wire_error_of(decode<WorkerDone>(encode(d)).status()), ErrorCode::kInvalidArgument);
  SubmitRequest r;
  r.model = "m";
  r.prompt = "p";
  r.sampling.top_p = std::numeric_limits<float>::infinity();
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kInvalidArgument);
}

TEST(Limits, PromptTooLong) {
  SubmitRequest r = sample_submit();
  Limits l;
  l.max_prompt_bytes = 8;
  auto back = decode<SubmitRequest>(encode(r), l);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(wire_error_of(back.status()), ErrorCode::kPromptTooLong);
}

TEST(Limits, MaxTokensStopStringsAndSampling) {
  Limits l;
  SubmitRequest r = sample_submit();
  r.max_tokens = l.max_tokens + 1;
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kInvalidArgument);
  r = sample_submit();
  r.max_tokens = 0;
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kInvalidArgument);
  r = sample_submit();
  r.stop.assign(l.max_stop_strings + 1, "x");
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kTooLarge);
  r = sample_submit();
  r.stop = {std::string(l.max_stop_bytes + 1, 'x')};
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kTooLarge);
  r = sample_submit();
  r.sampling.temperature = -1;
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kInvalidArgument);
  r = sample_submit();
  r.sampling.top_p = 2;
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kInvalidArgument);
  r = sample_submit();
  r.priority = static_cast<Priority>(9);  // encodes as "interactive"; still decodes
  EXPECT_TRUE(decode<SubmitRequest>(encode(r)).ok());
}

TEST(Limits, ApiMetaAndTenant) {
  Limits l;
  EXPECT_EQ(l.max_api_meta_bytes, 2048u);
  EXPECT_EQ(l.max_tenant_bytes, 64u);
  SubmitRequest r = sample_submit();
  r.api_meta = std::string(l.max_api_meta_bytes, 'm');
  r.tenant = std::string(l.max_tenant_bytes, 't');
  EXPECT_TRUE(decode<SubmitRequest>(encode(r)).ok());
  EXPECT_TRUE(validate(r, l).ok());
  r.api_meta += 'm';
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kTooLarge);
  EXPECT_EQ(wire_error_of(validate(r, l)), ErrorCode::kTooLarge);
  EXPECT_EQ(wire_error_of(parse_frames(make_frames(r)).status()), ErrorCode::kTooLarge);
  r = sample_submit();
  r.tenant = std::string(l.max_tenant_bytes + 1, 't');
  EXPECT_EQ(wire_error_of(decode<SubmitRequest>(encode(r)).status()), ErrorCode::kTooLarge);
  EXPECT_EQ(wire_error_of(validate(r, l)), ErrorCode::kTooLarge);
  // A DISPATCH carries the request: the same limits.
  Dispatch d{"j", 1, 0, r};
  EXPECT_EQ(wire_error_of(decode<Dispatch>(encode(d)).status()), ErrorCode::kTooLarge);
  // The record read back (DONE / STATUS_REPLY) is bounded the same way.
  JobRecord j = sample_record();
  j.api_meta = std::string(l.max_api_meta_bytes + 1, 'm');
  EXPECT_EQ(wire_error_of(decode<JobRecord>(encode(j)).status()), ErrorCode::kTooLarge);
}

TEST(Limits, FrameAndArraySizes) {
  Limits l;
  l.max_frame_bytes = 64;
  SubmitRequest r = sample_submit();
  r.prompt = std::string(100, 'a');
  auto f = make_frames(r);
  EXPECT_EQ(wire_error_of(parse_frames(f, l).status()), ErrorCode::kTooLarge);
  // An array header claiming 2^32-1 elements must be refused before allocating.
  std::string body = "\x81\xa7" "entries\xdd\xff\xff\xff\xff";
  EXPECT_EQ(wire_error_of(decode<TokenBatch>(body).status()), ErrorCode::kTooLarge);
  // A map claiming 2^32-1 entries.
  EXPECT_EQ(wire_error_of(decode<Ping>("\xdf\xff\xff\xff\xff").status()), ErrorCode::kTooLarge);
  // Deep nesting.
  std::string deep(100, '\x91');
  deep += '\x01';
  EXPECT_EQ(wire_error_of(decode<Ping>(deep).status()), ErrorCode::kTooLarge);
  // Entries over the typed limit.
  Limits small;
  small.max_entries = 2;
  TokenBatch b{{TokenEntry{"j", 0, 0, 1, "a"}, TokenEntry{"j", 0, 1, 1, "a"}, TokenEntry{"j", 0, 2, 1, "a"}}};
  EXPECT_FALSE(decode<TokenBatch>(encode(b), small).ok());
}

TEST(Frames, HeaderVersionAndCommandChecked) {
  Frames f = make_frames(Ping{1});
  Frames bad_version = f;
  bad_version[0][3] = 2;
  EXPECT_EQ(wire_error_of(parse_frames(bad_version).status()), ErrorCode::kBadVersion);
  Frames bad_magic = f;
  bad_magic[0] = "HTTP";
  EXPECT_EQ(wire_error_of(parse_frames(bad_magic).status()), ErrorCode::kBadFrame);
  Frames unknown = f;
  unknown[1] = std::string(1, '\x7f');
  EXPECT_EQ(wire_error_of(parse_frames(unknown).status()), ErrorCode::kUnknownCommand);
  Frames two(f.begin(), f.begin() + 2);
  EXPECT_EQ(wire_error_of(parse_frames(two).status()), ErrorCode::kBadFrame);
  Frames long_cmd = f;
  long_cmd[1] = "ab";
  EXPECT_EQ(wire_error_of(parse_frames(long_cmd).status()), ErrorCode::kBadFrame);
  // Direction: a worker command arriving on the client socket.
  auto wrong_dir = parse_frames(make_frames(WorkerDisconnect{"w", ""}), Direction::kClientToBroker);
  EXPECT_EQ(wire_error_of(wrong_dir.status()), ErrorCode::kUnknownCommand);
  EXPECT_TRUE(parse_frames(f, Direction::kClientToBroker).ok());
  auto peek = peek_command(f);
  ASSERT_TRUE(peek.ok());
  EXPECT_EQ(*peek, Command::kPing);
}

TEST(Errors, NamesAreStableAndRoundTrip) {
  EXPECT_EQ(error_code_name(ErrorCode::kQueueFull), "queue_full");
  EXPECT_EQ(error_code_name(ErrorCode::kBadVersion), "bad_version");
  for (int i = 0; i < kErrorCodeCount; ++i) {
    auto c = static_cast<ErrorCode>(i);
    EXPECT_EQ(parse_error_code(error_code_name(c)), c);
    if (c != ErrorCode::kOk) {
      Status s = wire_error(c, "why");
      EXPECT_EQ(wire_error_of(s), c);
      EXPECT_EQ(wire_error_message(s), "why");
    }
  }
  EXPECT_FALSE(parse_error_code("nope").has_value());
  // An unknown error name on the wire decodes as internal (forward compatible).
  std::string body = "\x81\xa4" "code\xa5zzzzz";
  auto r = decode<Rejected>(body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, ErrorCode::kInternal);
}

TEST(ModelRefTest, ParsesNamesAndPinnedVersions) {
  EXPECT_EQ(parse_model_ref("tiny"), (ModelRef{"tiny", 0}));
  EXPECT_EQ(parse_model_ref("tiny@3"), (ModelRef{"tiny", 3}));
  EXPECT_EQ(parse_model_ref("a.b-c_d@12"), (ModelRef{"a.b-c_d", 12}));
  for (const char* bad : {"", "@3", "tiny@", "tiny@0", "tiny@x", "tiny@3x", "tiny@-1"}) {
    EXPECT_FALSE(parse_model_ref(bad).has_value()) << bad;
  }
  EXPECT_EQ(model_key("tiny", 3), "tiny@3");
  EXPECT_EQ(model_key("tiny", 0), "tiny");
  EXPECT_EQ(model_key(ModelRef{"x", 7}), "x@7");
}

}  // namespace
}  // namespace rs::schemas
