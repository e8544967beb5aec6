// POST /v1/chat/completions through the whole Gateway in-process, with a worker peer the
// test drives: what a chat job carries on the wire, a whole chat.completion, a stream whose
// head waits for every choice's first token, a render failure or an over-long rendered
// prompt answered as a 400 body (never a stream) with the other jobs cancelled, a client
// leaving while the head is held, and a resume from the start equal to the first stream.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway_server_fixture.h"

namespace rs::gateway {
namespace {

namespace sc = rs::schemas;
using nlohmann::json;
using testing::GatewayServerTest;

const char* kChatBody =
    R"({"model":"m","messages":[{"role":"developer","content":"be brief"},
        {"role":"user","content":[{"type":"text","text":"hi"},{"type":"text","text":"there"}]}],
        "max_tokens":3,"seed":1,"tools":[{"type":"function","function":{"name":"f"}}],
        "chat_template_kwargs":{"x":1}})";

std::string chat_stream_body(int n) {
  return R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":50,"n":)" +
         std::to_string(n) + R"(,"stream":true,"stream_options":{"include_usage":true}})";
}

void fail_job(broker::testing::Peer& w, const sc::Dispatch& d, sc::ErrorCode code) {
  w.send(sc::WorkerFailed{.job_id = d.job_id,
                          .attempt = d.attempt,
                          .device = d.device,
                          .code = code,
                          .message = "cannot render: no chat template"});
}

void end_job(broker::testing::Peer& w, const sc::Dispatch& d, uint32_t tokens,
             const char* reason = "length") {
  w.send(sc::WorkerDone{.job_id = d.job_id,
                        .attempt = d.attempt,
                        .device = d.device,
                        .usage = sc::Usage{.prompt_tokens = 2, .completion_tokens = tokens},
                        .finish_reason = reason});
}

// The data of every event of a stream, to [DONE].
std::vector<std::string> read_stream(test::HttpConnection& c) {
  std::vector<std::string> out;
  for (;;) {
    auto e = c.next_event(5000);
    if (!e) return out;
    if (e->comment && e->data.empty()) continue;
    out.push_back((e->id.empty() ? "" : "id " + e->id + ": ") + e->data);
    if (e->data == "[DONE]") return out;
  }
}

TEST_F(GatewayServerTest, AChatJobCarriesTheConversationAndAnswersAChatCompletion) {
  start_broker();
  auto w = worker("w1", 2);
  start_gateway();
  test::HttpConnection c;
  ASSERT_TRUE(c.connect(gateway_->port()));
  ASSERT_TRUE(c.send_request("POST", "/v1/chat/completions", kChatBody));
  const sc::Dispatch d = serve(*w, 3);
  EXPECT_EQ(d.request.prompt, "");
  EXPECT_EQ(d.request.chat_messages,
            R"([{"role":"system","content":"be brief"},{"role":"user","content":"hi\nthere"}])");
  EXPECT_EQ(d.request.chat_tools, R"([{"type":"function","function":{"name":"f"}}])");
  EXPECT_EQ(d.request.chat_kwargs, R"({"x":1})");
  EXPECT_TRUE(d.request.add_generation_prompt);
  auto r = c.read_response();
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "t0t1t2");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  // The job's record says what it belongs to.
  auto job = c.request("GET", "/v1/jobs/" + d.job_id);
  ASSERT_TRUE(job.has_value());
  json rec = json::parse(job->body);
  EXPECT_EQ(rec["response"]["object"], "chat.completion");
  EXPECT_EQ(rec["response"]["id"], j["id"]);
}

TEST_F(GatewayServerTest, AChatStreamsHeadWaitsForEveryChoicesFirstToken) {
  start_broker();
  auto w = worker("w1", 2);
  start_gateway();
  test::HttpConnection c;
  ASSERT_TRUE(c.connect(gateway_->port()));
  ASSERT_TRUE(c.send_request("POST", "/v1/chat/completions", chat_stream_body(2)));
  auto d0 = w->expect<sc::Dispatch>();
  auto d1 = w->expect<sc::Dispatch>();
  w->send(sc::WorkerTokens{.entries = tokens(d0.job_id, d0.attempt, 0, 2)});
  EXPECT_FALSE(c.read_head(300).has_value()) << "the head went out before every first token";
  w->send(sc::WorkerTokens{.entries = tokens(d1.job_id, d1.attempt, 0, 1)});
  auto head = c.read_head(5000);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-type"), "text/event-stream");
  end_job(*w, d0, 2);
  end_job(*w, d1, 1, "stop");
  auto events = read_stream(c);
  ASSERT_GE(events.size(), 8u);
  // Both role chunks first (no id), then the content, the finish chunks, usage, [DONE].
  for (int i = 0; i < 2; ++i) {
    json role = json::parse(events[i]);
    EXPECT_EQ(role["object"], "chat.completion.chunk");
    EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
    EXPECT_EQ(role["choices"][0]["index"], i);
  }
  std::string text[2];
  std::string finish[2];
  for (size_t i = 2; i + 2 < events.size(); ++i) {
    const std::string data = events[i].substr(events[i].find('{'));
    json ch = json::parse(data);
    const int index = ch["choices"][0]["index"];
    text[index] += ch["choices"][0]["delta"].value("content", "");
    if (ch["choices"][0]["finish_reason"].is_string())
      finish[index] = ch["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text[0], "t0t1");
  EXPECT_EQ(text[1], "t0");
  EXPECT_EQ(finish[0], "length");
  EXPECT_EQ(finish[1], "stop");
  EXPECT_EQ(json::parse(events[events.size() - 2])["usage"]["completion_tokens"], 3);
  EXPECT_EQ(events.back(), "[DONE]");
}

TEST_F(GatewayServerTest, ARenderFailureIsA400BodyAndTheOtherJobIsCancelled) {
  start_broker();
  auto w = worker("w1", 2);
  start_gateway();
  for (const auto& [code, want_code] : std::vector<std::pair<sc::ErrorCode, std::string>>{
           {sc::ErrorCode::kInvalidArgument, "invalid_argument"},
           {sc::ErrorCode::kPromptTooLong, "context_length_exceeded"}}) {
    test::HttpConnection c;
    ASSERT_TRUE(c.connect(gateway_->port()));
    ASSERT_TRUE(c.send_request("POST", "/v1/chat/completions", chat_stream_body(2)));
    auto d0 = w->expect<sc::Dispatch>();
    auto d1 = w->expect<sc::Dispatch>();
    // One choice has a token already; the other fails before its first: still a 400.
    w->send(sc::WorkerTokens{.entries = tokens(d0.job_id, d0.attempt, 0, 1)});
    fail_job(*w, d1, code);
    auto r = c.read_response(5000);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(r->header("content-type"), "application/json");
    json e = json::parse(r->body);
    EXPECT_EQ(e["error"]["type"], "invalid_request_error");
    EXPECT_EQ(e["error"]["code"], want_code);
    EXPECT_EQ(e["error"]["param"], "messages");
    auto cancel = w->expect<sc::CancelJob>();
    EXPECT_EQ(cancel.job_id, d0.job_id);
    end_job(*w, d0, 1, "cancelled");
  }
  // Non-streamed: the same 400.
  test::HttpConnection c;
  ASSERT_TRUE(c.connect(gateway_->port()));
  ASSERT_TRUE(c.send_request("POST", "/v1/chat/completions", kChatBody));
  fail_job(*w, w->expect<sc::Dispatch>(), sc::ErrorCode::kInvalidArgument);
  auto r = c.read_response(5000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST_F(GatewayServerTest, AClientLeavingWhileTheHeadIsHeldCancelsItsJob) {
  start_broker();
  auto w = worker("w1", 2);
  start_gateway();
  {
    test::HttpConnection c;
    ASSERT_TRUE(c.connect(gateway_->port()));
    ASSERT_TRUE(c.send_request("POST", "/v1/chat/completions", chat_stream_body(1)));
    auto d = w->expect<sc::Dispatch>();
    c.close();  // before any token: the head was never sent
    auto cancel = w->expect<sc::CancelJob>();
    EXPECT_EQ(cancel.job_id, d.job_id);
    end_job(*w, d, 0, "cancelled");
  }
}

TEST_F(GatewayServerTest, AChatResumeFromTheStartRepeatsTheFirstStreamExactly) {
  start_broker();
  auto w = worker("w1", 2);
  start_gateway();
  test::HttpConnection c;
  ASSERT_TRUE(c.connect(gateway_->port()));
  ASSERT_TRUE(c.send_request("POST", "/v1/chat/completions", chat_stream_body(1)));
  auto d = w->expect<sc::Dispatch>();
  w->send(sc::WorkerTokens{.entries = tokens(d.job_id, d.attempt, 0, 2)});
  ASSERT_TRUE(c.read_head(5000).has_value());
  w->send(sc::WorkerTokens{.entries = tokens(d.job_id, d.attempt, 2, 5)});
  end_job(*w, d, 5);
  const auto first = read_stream(c);
  ASSERT_FALSE(first.empty());
  test::HttpConnection all;
  ASSERT_TRUE(all.connect(gateway_->port()));
  ASSERT_TRUE(all.send_request("GET", "/v1/jobs/" + d.job_id + "/events"));
  ASSERT_EQ(all.read_head(5000)->status, 200);
  EXPECT_EQ(read_stream(all), first);
  // After event id 2: the tail, without the role chunk.
  test::HttpConnection rest;
  ASSERT_TRUE(rest.connect(gateway_->port()));
  ASSERT_TRUE(
      rest.send_request("GET", "/v1/jobs/" + d.job_id + "/events", "", {"Last-Event-ID: 2"}));
  ASSERT_EQ(rest.read_head(5000)->status, 200);
  const auto tail = read_stream(rest);
  size_t at = 0;
  while (at < first.size() && first[at].rfind("id 2: ", 0) != 0) ++at;
  ASSERT_LT(at, first.size());
  EXPECT_EQ(tail, std::vector<std::string>(first.begin() + static_cast<long>(at) + 1, first.end()));
}

TEST_F(GatewayServerTest, BadChatRequestsGetTypedErrors) {
  start_broker();
  start_gateway();
  for (const auto& [body, param] : std::vector<std::pair<std::string, std::string>>{
           {R"({"model":"m"})", "messages"},
           {R"({"model":"m","messages":[]})", "messages"},
           {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
            "messages[0].content[0].type"},
           {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required"})",
            "tool_choice"},
       }) {
    test::HttpConnection c;
    ASSERT_TRUE(c.connect(gateway_->port()));
    auto r = c.request("POST", "/v1/chat/completions", body);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(json::parse(r->body)["error"]["param"], param) << body;
  }
  test::HttpConnection c;
  ASSERT_TRUE(c.connect(gateway_->port()));
  EXPECT_EQ(c.request("GET", "/v1/chat/completions")->status, 405);
}

}  // namespace
}  // namespace rs::gateway
