// POST /v1/completions bodies: the fields we honour, and a typed 400 naming every field we
// cannot honour or that has a wrong type or value.
#include "completion_request.h"

#include <gtest/gtest.h>

#include <string>

namespace rs::gateway {
namespace {

std::optional<ApiError> parse(const std::string& body, CompletionRequest& out) {
  return parse_completion_request(body, RequestLimits{}, out);
}

ApiError refused(const std::string& body) {
  CompletionRequest r;
  auto e = parse(body, r);
  EXPECT_TRUE(e.has_value()) << body;
  return e.value_or(ApiError{.status = 0});
}

TEST(CompletionRequestTest, ReadsEveryHonouredFieldAndTheExtensions) {
  CompletionRequest r;
  auto e =
      parse(R"({"model":"tiny","prompt":"hi","max_tokens":7,"temperature":0.5,"top_p":0.9,"seed":42,
      "stop":["\n","x"],"n":2,"stream":true,"stream_options":{"include_usage":true},"logprobs":0,
      "presence_penalty":0,"frequency_penalty":0,"user":"u1","top_k":40,"min_p":0.05,
      "repetition_penalty":1.1,"ignore_eos":true,"priority":"batch","affinity_key":"k",
      "background":true,"some_future_field":{"a":[1,2]}})",
            r);
  ASSERT_FALSE(e.has_value()) << e->message;
  EXPECT_EQ(r.model, "tiny");
  EXPECT_EQ(r.prompts, std::vector<std::string>{"hi"});
  EXPECT_EQ(r.max_tokens, 7u);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_TRUE(r.seed_given);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.stop.size(), 2u);
  EXPECT_EQ(r.n, 2u);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.user, "u1");
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_TRUE(r.ignore_eos);
  EXPECT_EQ(r.priority, schemas::Priority::kBatch);
  EXPECT_EQ(r.affinity_key, "k");
  EXPECT_TRUE(r.background);
}

TEST(CompletionRequestTest, DefaultsAreOpenAIs) {
  CompletionRequest r;
  ASSERT_FALSE(
      parse(R"({"model":"m","prompt":["a","b"],"max_completion_tokens":3})", r).has_value());
  EXPECT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.max_tokens, 3u);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.logprobs);
  EXPECT_FALSE(r.seed_given);
  CompletionRequest d;
  ASSERT_FALSE(parse(R"({"model":"m","prompt":"x"})", d).has_value());
  EXPECT_EQ(d.max_tokens, 16u);
}

TEST(CompletionRequestTest, FieldsWeCannotHonourAreRefusedByName) {
  for (const auto& [body, param] : std::vector<std::pair<std::string, std::string>>{
           {R"({"model":"m","prompt":"x","logit_bias":{"50256":-100}})", "logit_bias"},
           {R"({"model":"m","prompt":"x","response_format":{"type":"json_object"}})",
            "response_format"},
           {R"({"model":"m","prompt":"x","tools":[]})", "tools"},
           {R"({"model":"m","prompt":"x","suffix":"s"})", "suffix"},
           {R"({"model":"m","prompt":"x","best_of":3})", "best_of"},
           {R"({"model":"m","prompt":"x","presence_penalty":0.5})", "presence_penalty"},
           {R"({"model":"m","prompt":"x","frequency_penalty":-1})", "frequency_penalty"},
       }) {
    ApiError e = refused(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body;
    EXPECT_EQ(e.code, "unsupported_parameter") << body;
  }
  CompletionRequest r;
  EXPECT_FALSE(parse(R"({"model":"m","prompt":"x","echo":false,"best_of":1,"logit_bias":{}})", r)
                   .has_value());
}

// OpenAI's four prompt forms: a string, strings, token ids, arrays of token ids; ids are
// integers in [0, 2^31), each prompt non-empty and within max_prompt_tokens.
TEST(CompletionRequestTest, PromptsOfTokenIds) {
  CompletionRequest one;
  ASSERT_FALSE(parse(R"({"model":"m","prompt":[1,2,2147483647]})", one).has_value());
  EXPECT_EQ(one.prompt_ids, (std::vector<std::vector<int32_t>>{{1, 2, 2147483647}}));
  EXPECT_EQ(one.prompts, std::vector<std::string>{""});
  CompletionRequest two;
  ASSERT_FALSE(parse(R"({"model":"m","prompt":[[5],[0,7]],"n":2})", two).has_value());
  EXPECT_EQ(two.prompt_ids, (std::vector<std::vector<int32_t>>{{5}, {0, 7}}));
  EXPECT_EQ(two.prompts.size(), 2u);
  CompletionRequest text;
  ASSERT_FALSE(parse(R"({"model":"m","prompt":["a","b"]})", text).has_value());
  EXPECT_TRUE(text.prompt_ids.empty());
  for (const char* body : {R"({"model":"m","prompt":[1,-1]})", R"({"model":"m","prompt":[1,2147483648]})",
                           R"({"model":"m","prompt":[1.5]})", R"({"model":"m","prompt":[[]]})",
                           R"({"model":"m","prompt":[[1],"x"]})", R"({"model":"m","prompt":["x",[1]]})",
                           R"({"model":"m","prompt":[]})", R"({"model":"m","prompt":[1,"x"]})"}) {
    ApiError e = refused(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, "prompt") << body;
  }
  RequestLimits limits;
  limits.max_prompt_tokens = 2;
  CompletionRequest r;
  auto e = parse_completion_request(R"({"model":"m","prompt":[1,2,3]})", limits, r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 413);
}

// logprobs N (alternatives, at most 5), echo, and max_tokens 0 only with echo (vLLM's rule:
// scoring a prompt without generating).
TEST(CompletionRequestTest, LogprobsEchoAndScoringOnly) {
  CompletionRequest r;
  ASSERT_FALSE(parse(R"({"model":"m","prompt":"x","logprobs":5,"echo":true,"max_tokens":0})", r).has_value());
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 5u);
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.max_tokens, 0u);
  CompletionRequest z;
  ASSERT_FALSE(parse(R"({"model":"m","prompt":"x","logprobs":0})", z).has_value());
  EXPECT_TRUE(z.logprobs);
  EXPECT_EQ(z.top_logprobs, 0u);
  EXPECT_FALSE(z.echo);
  for (const auto& [body, param] : std::vector<std::pair<std::string, std::string>>{
           {R"({"model":"m","prompt":"x","max_tokens":0})", "max_tokens"},
           {R"({"model":"m","prompt":"x","max_tokens":0,"echo":false})", "max_tokens"},
           {R"({"model":"m","prompt":"x","logprobs":6})", "logprobs"},
           {R"({"model":"m","prompt":"x","echo":"yes"})", "echo"},
       }) {
    ApiError e = refused(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body;
  }
}

TEST(CompletionRequestTest, WrongTypesAndValuesNameTheField) {
  for (const auto& [body, param] : std::vector<std::pair<std::string, std::string>>{
           {R"({"prompt":"x"})", "model"},
           {R"({"model":"m"})", "prompt"},
           {R"({"model":7,"prompt":"x"})", "model"},
           {R"({"model":"m","prompt":{"a":1}})", "prompt"},
           {R"({"model":"m","prompt":"x","max_tokens":-5})", "max_tokens"},
           {R"({"model":"m","prompt":"x","max_tokens":"10"})", "max_tokens"},
           {R"({"model":"m","prompt":"x","max_tokens":1.5})", "max_tokens"},
           {R"({"model":"m","prompt":"x","n":1000000})", "n"},
           {R"({"model":"m","prompt":"x","n":0})", "n"},
           {R"({"model":"m","prompt":"x","temperature":-1})", "temperature"},
           {R"({"model":"m","prompt":"x","temperature":"hot"})", "temperature"},
           {R"({"model":"m","prompt":"x","top_p":0})", "top_p"},
           {R"({"model":"m","prompt":"x","stream":"yes"})", "stream"},
           {R"({"model":"m","prompt":"x","stop":[1]})", "stop"},
           {R"({"model":"m","prompt":"x","stop":["a","b","c","d","e"]})", "stop"},
           {R"({"model":"m","prompt":"x","priority":"urgent"})", "priority"},
           {R"({"model":"m","prompt":"x","seed":"1"})", "seed"},
           {R"({"model":"m","prompt":"x","stream_options":{"include_usage":1}})",
            "stream_options.include_usage"},
       }) {
    ApiError e = refused(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body;
  }
}

TEST(CompletionRequestTest, HostileBodiesAreRefusedWithoutRecursion) {
  std::string deep(100000, '[');
  EXPECT_EQ(refused(deep).code, "invalid_json");
  EXPECT_EQ(refused(R"({"model":"m","prompt":"\xff\xfe"})").code, "invalid_json");
  EXPECT_EQ(refused("{not json").code, "invalid_json");
  EXPECT_EQ(refused("[1,2]").code, "invalid_json");
  EXPECT_EQ(refused("").code, "invalid_json");
  // Brackets inside strings do not count as depth.
  CompletionRequest r;
  EXPECT_FALSE(
      parse(R"({"model":"m","prompt":")" + std::string(1000, '[') + R"("})", r).has_value());
  EXPECT_EQ(json_depth(R"({"a":[{"b":"]]]"}]})"), 3u);
}

TEST(CompletionRequestTest, TooManyChoicesAndTooLongPromptsAreRefused) {
  RequestLimits limits;
  limits.max_choices = 4;
  limits.max_prompt_bytes = 10;
  CompletionRequest r;
  auto e = parse_completion_request(R"({"model":"m","prompt":["a","b","c"],"n":2})", limits, r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "n");
  CompletionRequest r2;
  e = parse_completion_request(R"({"model":"m","prompt":"0123456789abc"})", limits, r2);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 413);
}

}  // namespace
}  // namespace rs::gateway
