// POST /v1/chat/completions over a real pool (redis-server, broker, a worker serving
// stories260K with the ChatML template of examples/chat, the gateway): a streamed answer
// equals the whole one for a seed and opens with the role chunk; a chat completion equals a
// plain completion of the rendered prompt (`ringserve-model chat`); a stream cut after ten
// events resumes exactly, and a resume from the start repeats the first stream event for
// event; a model without a chat template and a rendered prompt over the context are 400
// bodies (never a stream), for streamed and whole requests; bad inputs are 400s and the
// gateway serves on. Workers sleep 10 ms per step so streams are slow enough to cut live.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gateway_process.h"

namespace rs::test {
namespace {

using nlohmann::json;

const json kConversation = json::array(
    {{{"role", "system"}, {"content", "You tell short stories."}},
     {{"role", "user"}, {"content", "Tell me about a cat."}},
     {{"role", "assistant"}, {"content", "Once upon a time there was a cat."}},
     {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "And then?"}}})}}});

std::string chatml_template() {
  return source_path("examples/chat/chatml.jinja");
}

json chat_json(int max_tokens, uint64_t seed, bool stream, const json& messages = kConversation) {
  return json{{"model", "stories"},       {"messages", messages},
              {"max_tokens", max_tokens}, {"seed", seed},
              {"temperature", 0.8},       {"stream", stream},
              {"ignore_eos", true},       {"stream_options", {{"include_usage", true}}}};
}

// A chat stream as read: every event (id and data), the content, the finish, the usage.
struct ChatRead {
  int status = 0;
  std::string job;
  std::vector<std::pair<std::string, std::string>> events;  // (id, data), [DONE] included
  std::string text;
  std::string finish_reason;
  std::optional<json> usage;
  bool done = false;
  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (const auto& [id, data] : events) {
      if (!id.empty()) out.push_back(id);
    }
    return out;
  }
};

// Reads events into `out` until [DONE], the end, or `max_text_events` events with an id.
void read_chat(HttpConnection& c, ChatRead& out, int max_text_events = -1) {
  int text_events = 0;
  while (max_text_events < 0 || text_events < max_text_events) {
    auto e = c.next_event(60000);
    if (!e) return;
    if (e->comment && e->data.empty()) continue;
    out.events.emplace_back(e->id, e->data);
    if (e->data == "[DONE]") {
      out.done = true;
      return;
    }
    json j = json::parse(e->data, nullptr, false);
    if (!j.is_object()) continue;
    if (j.contains("usage") && j["usage"].is_object()) out.usage = j["usage"];
    for (const auto& ch : j.value("choices", json::array())) {
      if (ch["delta"].contains("content")) out.text += ch["delta"]["content"].get<std::string>();
      if (ch["finish_reason"].is_string()) out.finish_reason = ch["finish_reason"];
    }
    if (!e->id.empty()) ++text_events;
  }
}

class ChatGatewayTest : public ::testing::Test {
 protected:
  virtual bool with_template() const { return true; }
  void SetUp() override {
    RS_REQUIRE_FILE(model_path("stories260K.gguf"));
    PoolOptions o;
    o.workers = 1;
    o.devices = 2;
    o.heartbeat_ms = 200;
    o.model_file = model_path("stories260K.gguf");
    o.model_name = "stories";
    o.worker_args = {"--step-delay-ms", "10"};
    if (with_template())
      o.worker_args.insert(o.worker_args.end(), {"--chat-template", chatml_template()});
    pool_ = std::make_unique<Pool>(o);
    RS_REQUIRE_POOL(*pool_);
    ASSERT_TRUE(pool_->start()) << "pool did not start";
    gateway_ = std::make_unique<GatewayProcess>(*pool_);
    ASSERT_TRUE(gateway_->start()) << "gateway did not start";
  }

  json whole(const json& body) {
    auto r = gateway_->request("POST", "/v1/chat/completions", body.dump());
    EXPECT_TRUE(r.has_value());
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body, nullptr, false);
  }

  ChatRead stream(const std::string& method, const std::string& target, const std::string& body,
                  std::vector<std::string> headers = {}) {
    headers.push_back(gateway_->auth());
    HttpConnection c;
    ChatRead out;
    EXPECT_TRUE(open_stream(c, gateway_->port(), method, target, body, headers, out));
    if (out.status == 200) read_chat(c, out);
    return out;
  }

  // The status, content type and body of a request answered with an error.
  HttpResponse error_answer(const std::string& body) {
    auto r = gateway_->request("POST", "/v1/chat/completions", body);
    EXPECT_TRUE(r.has_value());
    return r.value_or(HttpResponse{});
  }

  std::unique_ptr<Pool> pool_;
  std::unique_ptr<GatewayProcess> gateway_;
};

TEST_F(ChatGatewayTest, StreamedAndWholeAnswersAgreeForOneSeed) {
  json w = whole(chat_json(40, 5, false));
  ASSERT_TRUE(w.is_object());
  EXPECT_EQ(w["object"], "chat.completion");
  EXPECT_EQ(w["choices"][0]["message"]["role"], "assistant");
  const std::string text = w["choices"][0]["message"]["content"];
  ChatRead s = stream("POST", "/v1/chat/completions", chat_json(40, 5, true).dump());
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, text);
  EXPECT_EQ(s.finish_reason, "length");
  ASSERT_TRUE(s.usage.has_value());
  EXPECT_EQ((*s.usage)["completion_tokens"], 40);
  EXPECT_EQ(*s.usage, w["usage"]);
  ASSERT_FALSE(s.events.empty());
  EXPECT_TRUE(s.events.front().first.empty());  // the role chunk: no id
  json role = json::parse(s.events.front().second);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"], (json{{"role", "assistant"}, {"content", ""}}));
  const auto ids = s.ids();
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(std::stoull(ids[i - 1]), std::stoull(ids[i]));
}

TEST_F(ChatGatewayTest, AChatCompletionEqualsAPlainCompletionOfTheRenderedPrompt) {
  const json messages = {{{"role", "system"}, {"content", "You tell short stories."}},
                         {{"role", "user"}, {"content", "Tell me about a cat."}}};
  auto rendered = run_program({program("ringserve-model"), "chat", "--template", chatml_template(),
                               "--messages", messages.dump(), "--add-generation-prompt"},
                              "", 30000);
  ASSERT_TRUE(rendered.has_value());
  for (uint64_t seed : {11u, 12u}) {
    json chat = whole(chat_json(24, seed, false, messages));
    auto plain = gateway_->request("POST", "/v1/completions",
                                   json{{"model", "stories"},
                                        {"prompt", *rendered},
                                        {"max_tokens", 24},
                                        {"seed", seed},
                                        {"temperature", 0.8},
                                        {"ignore_eos", true}}
                                       .dump());
    ASSERT_TRUE(plain.has_value());
    ASSERT_EQ(plain->status, 200) << plain->body;
    json p = json::parse(plain->body);
    EXPECT_EQ(chat["choices"][0]["message"]["content"], p["choices"][0]["text"]) << "seed " << seed;
    EXPECT_EQ(chat["usage"], p["usage"]) << "seed " << seed;
  }
}

TEST_F(ChatGatewayTest, AStreamCutAfterTenEventsResumesExactly) {
  const json w = whole(chat_json(150, 21, false));
  HttpConnection c;
  ChatRead first;
  json body = chat_json(150, 21, true);
  body["background"] = true;
  ASSERT_TRUE(open_stream(c, gateway_->port(), "POST", "/v1/chat/completions", body.dump(),
                        {gateway_->auth()}, first));
  ASSERT_EQ(first.status, 200);
  read_chat(c, first, 10);
  ASSERT_EQ(first.ids().size(), 10u);
  ASSERT_FALSE(first.done) << "the job ended before the cut: too fast for this test";
  c.close();
  ChatRead rest = stream("GET", "/v1/jobs/" + first.job + "/events", "",
                         {"Last-Event-ID: " + first.ids().back()});
  ASSERT_EQ(rest.status, 200);
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(first.text + rest.text, w["choices"][0]["message"]["content"].get<std::string>());
  ASSERT_FALSE(rest.events.empty());
  EXPECT_FALSE(rest.events.front().first.empty()) << "a resume after an id repeats no role chunk";
  EXPECT_GT(std::stoull(rest.ids().front()), std::stoull(first.ids().back()));
  EXPECT_EQ(rest.finish_reason, "length");
  // From the start: the whole first stream, event for event (the role chunk first).
  ChatRead all = stream("GET", "/v1/jobs/" + first.job + "/events", "");
  ASSERT_EQ(all.status, 200);
  std::vector<std::pair<std::string, std::string>> joined = first.events;
  joined.insert(joined.end(), rest.events.begin(), rest.events.end());
  EXPECT_EQ(all.events, joined);
  auto job = gateway_->request("GET", "/v1/jobs/" + first.job);
  ASSERT_TRUE(job.has_value());
  json record = json::parse(job->body);
  EXPECT_EQ(record["state"], "SUCCEEDED");
  EXPECT_EQ(record["response"]["object"], "chat.completion");
}

TEST_F(ChatGatewayTest, ARenderedPromptOverTheContextIsA400Body) {
  std::string longer;
  for (int i = 0; i < 800; ++i) longer += "the cat sat on the mat and ";
  const json messages = {{{"role", "user"}, {"content", longer}}};
  for (bool streamed : {true, false}) {
    HttpResponse r = error_answer(chat_json(16, 1, streamed, messages).dump());
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    json e = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_EQ(e["error"]["code"], "context_length_exceeded") << r.body;
    EXPECT_EQ(e["error"]["param"], "messages");
  }
  // A template error (ChatML adds a message's role to a string: an undefined one fails).
  HttpResponse bad = error_answer(
      R"({"model":"stories","messages":[{"role":"user","content":"x"}],"max_tokens":4,)"
      R"("chat_template_kwargs":{"messages":[{"content":"no role"}]}})");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_FALSE(whole(chat_json(4, 1, false)).is_null());
}

TEST_F(ChatGatewayTest, BadInputsAre400sAndTheGatewayServesOn) {
  for (
      const auto& [body, param] : std::vector<std::pair<std::string, std::string>>{
          {"{\"model\":", ""},
          {R"({"model":"stories"})", "messages"},
          {R"({"model":"stories","messages":[]})", "messages"},
          {R"({"model":"stories","messages":[{"role":"wizard","content":"x"}]})",
           "messages[0].role"},
          {R"({"model":"stories","messages":[{"role":"user","content":[{"type":"image_url",
              "image_url":{"url":"http://x/y.png"}}]}]})",
           "messages[0].content[0].type"},
          {R"({"model":"stories","messages":[{"role":"user","content":"x"}],"top_logprobs":3})",
           "top_logprobs"},
          {R"({"model":"stories","messages":[{"role":"user","content":"x"}],"tool_choice":"required"})",
           "tool_choice"},
          {R"({"model":"stories","messages":[{"role":"user","content":"x"}],"n":100000})", "n"},
      }) {
    HttpResponse r = error_answer(body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
    json e = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object() && e.contains("error")) << r.body;
    if (!param.empty()) {
      EXPECT_EQ(e["error"]["param"], param) << body;
    }
  }
  HttpResponse unknown =
      error_answer(R"({"model":"nope","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_TRUE(gateway_->process().alive());
  EXPECT_EQ(whole(chat_json(8, 2, false))["choices"][0]["finish_reason"], "length");
}

class ChatGatewayNoTemplateTest : public ChatGatewayTest {
 protected:
  bool with_template() const override { return false; }
};

TEST_F(ChatGatewayNoTemplateTest, AModelWithoutATemplateIsA400BodyNeverAStream) {
  for (bool streamed : {true, false}) {
    json body = chat_json(16, 1, streamed);
    body["n"] = 2;
    HttpResponse r = error_answer(body.dump());
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json") << "streamed " << streamed;
    json e = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_EQ(e["error"]["type"], "invalid_request_error");
    EXPECT_EQ(e["error"]["code"], "invalid_argument");
    EXPECT_NE(e["error"]["message"].get<std::string>().find("chat template"), std::string::npos)
        << r.body;
  }
  // Plain completions of the same model still work.
  auto plain =
      gateway_->request("POST", "/v1/completions",
                        R"({"model":"stories","prompt":"Once upon a time","max_tokens":4})");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->status, 200) << plain->body;
}

}  // namespace
}  // namespace rs::test
