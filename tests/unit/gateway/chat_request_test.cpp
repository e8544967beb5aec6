// POST /v1/chat/completions bodies: every field we honour, the messages as the worker's
// template gets them (roles, text parts joined, tool calls passed through, the client's key
// order), and a typed 400 naming every field we cannot honour or that is malformed.
#include "chat_request.h"

#include <gtest/gtest.h>

#include <string>

#include "generation_plan.h"

namespace rs::gateway {
namespace {

std::optional<ApiError> parse_chat(const std::string& body, ChatRequest& out) {
  return parse_chat_request(body, RequestLimits{}, out);
}

ApiError chat_refused(const std::string& body) {
  ChatRequest r;
  auto e = parse_chat(body, r);
  EXPECT_TRUE(e.has_value()) << body;
  return e.value_or(ApiError{.status = 0});
}

// A body with `messages` and extra fields (a JSON text without braces).
std::string chat_body(const std::string& messages, const std::string& extra = "") {
  return R"({"model":"m","messages":)" + messages + (extra.empty() ? "" : "," + extra) + "}";
}

const std::string kHello = R"([{"role":"user","content":"hi"}])";

TEST(ChatRequestTest, ReadsEveryHonouredFieldAndTheExtensions) {
  ChatRequest r;
  auto e = parse_chat(chat_body(kHello, R"("max_tokens":7,"temperature":0.5,"top_p":0.9,
      "seed":42,"stop":["\n","x"],"n":2,"stream":true,"stream_options":{"include_usage":true},
      "logprobs":true,"top_logprobs":0,"presence_penalty":0,"frequency_penalty":0,"user":"u1",
      "top_k":40,"min_p":0.05,"repetition_penalty":1.1,"ignore_eos":true,"priority":"batch",
      "background":true,"tools":[{"type":"function","function":{"name":"f"}}],
      "tool_choice":"auto","chat_template_kwargs":{"enable_thinking":false,"a":[1]},
      "add_generation_prompt":false,"response_format":{"type":"text"},"modalities":["text"],
      "prompt_cache_key":"conv-1","store":false,"metadata":{"k":"v"},"some_future_field":1)"),
                      r);
  ASSERT_FALSE(e.has_value()) << e->param << ": " << e->message;
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.messages, R"([{"role":"user","content":"hi"}])");
  EXPECT_EQ(r.max_tokens, 7u);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_TRUE(r.seed_given);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "x"}));
  EXPECT_EQ(r.n, 2u);
  EXPECT_TRUE(r.stream && r.include_usage && r.logprobs);
  EXPECT_EQ(r.user, "u1");
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_TRUE(r.ignore_eos && r.background);
  EXPECT_EQ(r.priority, schemas::Priority::kBatch);
  EXPECT_EQ(r.tools, R"([{"type":"function","function":{"name":"f"}}])");
  EXPECT_EQ(r.kwargs, R"({"enable_thinking":false,"a":[1]})");
  EXPECT_FALSE(r.add_generation_prompt);
  EXPECT_EQ(r.affinity_key, "conv-1");  // prompt_cache_key routes like affinity_key
}

TEST(ChatRequestTest, Defaults) {
  ChatRequest r;
  ASSERT_FALSE(parse_chat(chat_body(kHello), r).has_value());
  EXPECT_EQ(r.max_tokens, RequestLimits{}.max_tokens);  // until the context is full
  EXPECT_EQ(r.n, 1u);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.stream || r.logprobs || r.seed_given);
  EXPECT_TRUE(r.add_generation_prompt);
  EXPECT_EQ(r.tools, "");
  EXPECT_EQ(r.kwargs, "");
  ChatRequest c;
  ASSERT_FALSE(parse_chat(chat_body(kHello, R"("max_completion_tokens":3,"tools":[],
      "chat_template_kwargs":{},"affinity_key":"k","prompt_cache_key":"p")"),
                          c)
                   .has_value());
  EXPECT_EQ(c.max_tokens, 3u);
  EXPECT_EQ(c.tools, "");   // an empty list is no tools
  EXPECT_EQ(c.kwargs, "");  // and empty kwargs none
  EXPECT_EQ(c.affinity_key, "k");
}

TEST(ChatRequestTest, MessagesKeepTheirRolesFieldsAndKeyOrder) {
  ChatRequest r;
  const std::string messages = R"([
    {"content":"be brief","role":"system"},
    {"role":"developer","content":"and kind"},
    {"role":"user","name":"ann","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],
     "x_unknown":{"dropped":true}},
    {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
     "function":{"name":"f","arguments":"{\"z\":1,\"a\":2}"}}]},
    {"tool_call_id":"c1","role":"tool","content":"42"},
    {"role":"assistant","tool_calls":[{"id":"c2","function":{"arguments":{"z":1,"a":2}}}]},
    {"role":"user","content":[]}])";
  auto e = parse_chat(chat_body(messages), r);
  ASSERT_FALSE(e.has_value()) << e->param << ": " << e->message;
  EXPECT_EQ(
      r.messages,
      R"([{"content":"be brief","role":"system"},)"
      R"({"role":"system","content":"and kind"},)"
      R"({"role":"user","name":"ann","content":"a\nb"},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
      R"("function":{"name":"f","arguments":"{\"z\":1,\"a\":2}"}}]},)"
      R"({"tool_call_id":"c1","role":"tool","content":"42"},)"
      R"({"role":"assistant","tool_calls":[{"id":"c2","function":{"arguments":{"z":1,"a":2}}}],)"
      R"("content":null},)"
      R"({"role":"user","content":""}])");
}

TEST(ChatRequestTest, ToolsAndKwargsKeepTheClientsKeyOrder) {
  ChatRequest r;
  ASSERT_FALSE(parse_chat(chat_body(kHello, R"("tools":[{"type":"function","function":{"name":"f",
      "parameters":{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}}}}}],
      "chat_template_kwargs":{"z":1,"a":{"y":2,"b":3}})"),
                          r)
                   .has_value());
  EXPECT_EQ(r.tools, R"([{"type":"function","function":{"name":"f","parameters":{"type":"object",)"
                     R"("properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}}}}}])");
  EXPECT_EQ(r.kwargs, R"({"z":1,"a":{"y":2,"b":3}})");
}

TEST(ChatRequestTest, BadMessagesNameTheMessageAndField) {
  for (const auto& [messages, param] : std::vector<std::pair<std::string, std::string>>{
           {R"([])", "messages"},
           {R"("hi")", "messages"},
           {R"({"role":"user"})", "messages"},
           {R"(["hi"])", "messages[0]"},
           {R"([{"content":"x"}])", "messages[0].role"},
           {R"([{"role":"wizard","content":"x"}])", "messages[0].role"},
           {R"([{"role":"function","content":"x"}])", "messages[0].role"},
           {R"([{"role":7,"content":"x"}])", "messages[0].role"},
           {R"([{"role":"user","content":"a"},{"role":"user"}])", "messages[1].content"},
           {R"([{"role":"user","content":null}])", "messages[0].content"},
           {R"([{"role":"assistant","content":null}])", "messages[0].content"},
           {R"([{"role":"user","content":5}])", "messages[0].content"},
           {R"([{"role":"user","content":{"text":"x"}}])", "messages[0].content"},
           {R"([{"role":"user","content":["x"]}])", "messages[0].content[0]"},
           {R"([{"role":"user","content":[{"text":"x"}]}])", "messages[0].content[0].type"},
           {R"([{"role":"user","content":[{"type":"text"}]}])", "messages[0].content[0].text"},
           {R"([{"role":"user","content":[{"type":"text","text":3}]}])",
            "messages[0].content[0].text"},
           {R"([{"role":"user","name":5,"content":"x"}])", "messages[0].name"},
           {R"([{"role":"user","content":"x","tool_calls":[]}])", "messages[0].tool_calls"},
           {R"([{"role":"assistant","content":"x","tool_calls":{}}])", "messages[0].tool_calls"},
           {R"([{"role":"assistant","content":"x","tool_calls":[1]}])", "messages[0].tool_calls[]"},
           {R"([{"role":"user","content":"x","tool_call_id":"c"}])", "messages[0].tool_call_id"},
           {R"([{"role":"tool","content":"x","tool_call_id":1}])", "messages[0].tool_call_id"},
       }) {
    ApiError e = chat_refused(chat_body(messages));
    EXPECT_EQ(e.status, 400) << messages;
    EXPECT_EQ(e.param, param) << messages << ": " << e.message;
  }
  EXPECT_EQ(chat_refused(R"({"model":"m"})").code, "missing_required_parameter");
  EXPECT_EQ(chat_refused(R"({"messages":[{"role":"user","content":"x"}]})").param, "model");
}

TEST(ChatRequestTest, ContentPartsOtherThanTextAreRefusedByType) {
  ApiError e = chat_refused(chat_body(
      R"([{"role":"user","content":[{"type":"text","text":"look"},
          {"type":"image_url","image_url":{"url":"http://x/y.png"}}]}])"));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, "unsupported_parameter");
  EXPECT_EQ(e.param, "messages[0].content[1].type");
  EXPECT_NE(e.message.find("'image_url'"), std::string::npos) << e.message;
  EXPECT_EQ(chat_refused(chat_body(R"([{"role":"user","content":[{"type":"input_audio"}]}])"))
                    .message.find("'input_audio'") != std::string::npos,
            true);
}

TEST(ChatRequestTest, TopLogprobsNeedLogprobsAndMaxTokensZeroIsRefused) {
  ChatRequest r;
  ASSERT_FALSE(parse_chat(chat_body(kHello, R"("logprobs":true,"top_logprobs":20)"), r).has_value());
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 20u);
  for (const auto& [extra, param] : std::vector<std::pair<std::string, std::string>>{
           {R"("top_logprobs":2)", "top_logprobs"},
           {R"("logprobs":false,"top_logprobs":2)", "top_logprobs"},
           {R"("max_tokens":0)", "max_tokens"},
           {R"("max_completion_tokens":0)", "max_tokens"},
       }) {
    ApiError e = chat_refused(chat_body(kHello, extra));
    EXPECT_EQ(e.status, 400) << extra;
    EXPECT_EQ(e.param, param) << extra;
  }
}

TEST(ChatRequestTest, FieldsWeCannotHonourAreRefusedByName) {
  for (const auto& [extra, param] : std::vector<std::pair<std::string, std::string>>{
           {R"("logit_bias":{"50256":-100})", "logit_bias"},
           {R"("response_format":{"type":"json_object"})", "response_format"},
           {R"("response_format":{"type":"json_schema","json_schema":{}})", "response_format"},
           {R"("tool_choice":"required")", "tool_choice"},
           {R"("tool_choice":{"type":"function","function":{"name":"f"}})", "tool_choice"},
           {R"("functions":[{"name":"f"}])", "functions"},
           {R"("function_call":{"name":"f"})", "function_call"},
           {R"("presence_penalty":0.5)", "presence_penalty"},
           {R"("frequency_penalty":-1)", "frequency_penalty"},
           {R"("audio":{"voice":"x"})", "audio"},
           {R"("modalities":["text","audio"])", "modalities"},
           {R"("prediction":{"type":"content","content":"x"})", "prediction"},
           {R"("web_search_options":{})", "web_search_options"},
           {R"("chat_template":"{{ messages }}")", "chat_template"},
           {R"("continue_final_message":true)", "continue_final_message"},
       }) {
    ApiError e = chat_refused(chat_body(kHello, extra));
    EXPECT_EQ(e.status, 400) << extra;
    EXPECT_EQ(e.param, param) << extra;
    EXPECT_EQ(e.code, "unsupported_parameter") << extra;
  }
  ChatRequest r;
  EXPECT_FALSE(parse_chat(chat_body(kHello, R"("tool_choice":"none","function_call":"auto",
      "logit_bias":{},"top_logprobs":0,"continue_final_message":false,"logprobs":false)"),
                          r)
                   .has_value());
}

TEST(ChatRequestTest, WrongTypesAndValuesNameTheField) {
  for (const auto& [extra, param] : std::vector<std::pair<std::string, std::string>>{
           {R"("max_tokens":-5)", "max_tokens"},
           {R"("max_completion_tokens":"9")", "max_completion_tokens"},
           {R"("n":1000000)", "n"},
           {R"("temperature":3)", "temperature"},
           {R"("stream":"yes")", "stream"},
           {R"("stop":[1])", "stop"},
           {R"("seed":1.5)", "seed"},
           {R"("logprobs":1)", "logprobs"},
           {R"("top_logprobs":21)", "top_logprobs"},
           {R"("tools":{"type":"function"})", "tools"},
           {R"("tools":["f"])", "tools[0]"},
           {R"("tool_choice":5)", "tool_choice"},
           {R"("tool_choice":"sometimes")", "tool_choice"},
           {R"("chat_template_kwargs":[1])", "chat_template_kwargs"},
           {R"("add_generation_prompt":"yes")", "add_generation_prompt"},
           {R"("response_format":{"type":5})", "response_format"},
           {R"("prompt_cache_key":5)", "prompt_cache_key"},
           {R"("stream_options":{"include_usage":1})", "stream_options.include_usage"},
       }) {
    ApiError e = chat_refused(chat_body(kHello, extra));
    EXPECT_EQ(e.status, 400) << extra;
    EXPECT_EQ(e.param, param) << extra << ": " << e.message;
  }
}

TEST(ChatRequestTest, HostileAndOversizedBodiesAreRefused) {
  EXPECT_EQ(chat_refused(std::string(100000, '[')).code, "invalid_json");
  EXPECT_EQ(chat_refused(chat_body(R"([{"role":"user","content":"\xff"}])")).code, "invalid_json");
  EXPECT_EQ(chat_refused("[]").code, "invalid_json");
  // An object with more members than the limit is refused before the (ordered) parse.
  std::string wide = R"({"model":"m","messages":[{"role":"user","content":"x"}],"k":{)";
  for (int i = 0; i < 2000; ++i)
    wide += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":0";
  wide += "}}";
  EXPECT_EQ(chat_refused(wide).code, "invalid_json");
  RequestLimits limits;
  limits.max_prompt_bytes = 64;
  ChatRequest r;
  auto e = parse_chat_request(
      chat_body(R"([{"role":"user","content":")" + std::string(100, 'a') + R"("}])"), limits, r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 413);
  limits.max_prompt_bytes = 1u << 20;
  limits.max_choices = 4;
  ChatRequest r2;
  e = parse_chat_request(chat_body(kHello, R"("n":5)"), limits, r2);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "n");
}

TEST(ChatRequestTest, WidthAndDepthScansIgnoreStrings) {
  EXPECT_EQ(json_widest_object(R"({"a":1,"b":[1,2,3,4,5],"c":"x,y,z,w"})"), 3u);
  EXPECT_EQ(json_widest_object(R"([{"a":1,"b":2},[1,2,3,4,5]])"), 2u);  // arrays not counted
  EXPECT_EQ(json_widest_object("{}"), 0u);
  EXPECT_EQ(json_depth(R"({"a":[{"b":"]]]"}]})"), 3u);
  // A long conversation is fine: arrays are not bounded by the member limit.
  std::string many = "[";
  for (int i = 0; i < 3000; ++i)
    many += std::string(i ? "," : "") + R"({"role":"user","content":"x"})";
  ChatRequest r;
  EXPECT_FALSE(parse_chat(chat_body(many + "]"), r).has_value());
}

TEST(ChatRequestTest, APlanMakesOneChatJobPerChoice) {
  ChatRequest r;
  ASSERT_FALSE(parse_chat(chat_body(kHello, R"("n":3,"seed":10,"tools":[{"type":"function"}],
      "chat_template_kwargs":{"x":1},"add_generation_prompt":false,"max_tokens":5)"),
                          r)
                   .has_value());
  std::mt19937_64 rng(1);
  GenerationPlan plan = plan_chat(r, "acme", 1700000000, rng);
  EXPECT_TRUE(plan.meta.is_chat());
  EXPECT_EQ(plan.meta.id.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(plan.meta.id.size(), 9u + 24u);
  ASSERT_EQ(plan.submits.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& s = plan.submits[i];
    EXPECT_TRUE(s.is_chat());
    EXPECT_EQ(s.prompt, "");
    EXPECT_EQ(s.chat_messages, r.messages);
    EXPECT_EQ(s.chat_tools, R"([{"type":"function"}])");
    EXPECT_EQ(s.chat_kwargs, R"({"x":1})");
    EXPECT_FALSE(s.add_generation_prompt);
    EXPECT_EQ(s.sampling.seed, 10u + i);
    EXPECT_EQ(s.max_tokens, 5u);
    EXPECT_TRUE(s.detach);
    EXPECT_EQ(s.tenant, "acme");
    auto meta = decode_api_meta(s.api_meta);
    ASSERT_TRUE(meta.has_value());
    EXPECT_TRUE(meta->is_chat());
    EXPECT_EQ(meta->index, i);
    EXPECT_EQ(meta->id, plan.meta.id);
    EXPECT_LT(s.api_meta.size(), 2048u);
  }
}

}  // namespace
}  // namespace rs::gateway
