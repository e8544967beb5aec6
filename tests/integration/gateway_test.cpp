// Acceptance (issue 12): the HTTP gateway over a real pool. Streamed and whole answers agree;
// a stream cut after 10 events resumes with Last-Event-ID to exactly the rest (background,
// non-background within the grace, after kill -9 of the gateway, after kill -9 of the
// broker); a vanished client's job is cancelled and its KV blocks come back; bad input of
// every kind gets its status and an OpenAI-shaped body; 1000 idle streams are held.
// Workers sleep 10 ms per step (--step-delay-ms) so streams are slow enough to cut live.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gateway_process.h"

namespace rs::test {
namespace {

using nlohmann::json;

std::string body(const std::string& prompt, int max_tokens, uint64_t seed, bool stream,
                 bool background = false, const std::string& model = "tiny") {
  return json{{"model", model},
              {"prompt", prompt},
              {"max_tokens", max_tokens},
              {"seed", seed},
              {"temperature", 0.8},
              {"stream", stream},
              {"ignore_eos", true},
              {"background", background},
              {"stream_options", {{"include_usage", true}}}}
      .dump();
}

class GatewayTest : public ::testing::Test {
 protected:
  virtual std::vector<std::string> worker_args() const { return {"--step-delay-ms", "10"}; }
  virtual std::vector<std::string> gateway_args() const { return {}; }
  virtual store::ApiScopes key_scopes() const { return store::kDefaultScopes; }
  void SetUp() override {
    PoolOptions o;
    o.workers = 1;
    o.devices = 2;
    o.heartbeat_ms = 200;
    o.worker_args = worker_args();
    pool_ = std::make_unique<Pool>(o);
    RS_REQUIRE_POOL(*pool_);
    ASSERT_TRUE(pool_->start()) << "pool did not start";
    gateway_ = std::make_unique<GatewayProcess>(*pool_);
    gateway_->set_scopes(key_scopes());
    ASSERT_TRUE(gateway_->start(gateway_args())) << "gateway did not start";
  }

  // The whole answer of a request (non-streamed).
  std::string whole_text(const std::string& prompt, int max_tokens, uint64_t seed) {
    auto r = gateway_->request("POST", "/v1/completions", body(prompt, max_tokens, seed, false));
    EXPECT_TRUE(r.has_value());
    if (!r) return "";
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body)["choices"][0]["text"].get<std::string>();
  }

  // Resumes `job` after event `last_id` on the gateway at `port` (retrying while the pool
  // is not answering yet) and reads it to [DONE].
  StreamRead resume(int port, const std::string& job, const std::string& last_id) {
    StreamRead out;
    for (int attempt = 0; attempt < 100; ++attempt) {
      HttpConnection c;
      out = StreamRead{};
      if (!open_stream(c, port, "GET", "/v1/jobs/" + job + "/events", "",
                       {gateway_->auth(), "Last-Event-ID: " + last_id}, out)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (out.status == 503) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (out.status == 200) read_events(c, out);
      return out;
    }
    return out;
  }

  std::string job_state(const std::string& job, json* record = nullptr) {
    auto r = gateway_->request("GET", "/v1/jobs/" + job);
    if (!r || r->status != 200) return "";
    json j = json::parse(r->body);
    if (record != nullptr) *record = j;
    return j["state"];
  }

  // Streams 10 events of a fresh job, then drops the connection: (job, events read).
  StreamRead cut_after_ten(const std::string& prompt, int max_tokens, uint64_t seed,
                           bool background) {
    HttpConnection c;
    StreamRead first;
    EXPECT_TRUE(open_stream(c, gateway_->port(), "POST", "/v1/completions",
                            body(prompt, max_tokens, seed, true, background), {gateway_->auth()},
                            first));
    EXPECT_EQ(first.status, 200);
    read_events(c, first, 10);
    EXPECT_EQ(first.ids.size(), 10u);
    EXPECT_FALSE(first.done) << "the job ended before the cut: too fast for this test";
    return first;
  }

  std::unique_ptr<Pool> pool_;
  std::unique_ptr<GatewayProcess> gateway_;
};

TEST_F(GatewayTest, StreamedAndWholeAnswersAgreeForOneSeed) {
  const std::string whole = whole_text("Once upon a time", 40, 5);
  HttpConnection c;
  StreamRead s;
  ASSERT_TRUE(open_stream(c, gateway_->port(), "POST", "/v1/completions",
                          body("Once upon a time", 40, 5, true), {gateway_->auth()}, s));
  ASSERT_EQ(s.status, 200);
  read_events(c, s);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, whole);
  EXPECT_EQ(s.finish_reason, "length");
  ASSERT_TRUE(s.usage.has_value());
  EXPECT_EQ((*s.usage)["completion_tokens"], 40);
  EXPECT_FALSE(s.job.empty());
  for (size_t i = 1; i < s.ids.size(); ++i)
    EXPECT_LT(std::stoull(s.ids[i - 1]), std::stoull(s.ids[i]));
}

TEST_F(GatewayTest, ABackgroundStreamCutAfterTenEventsResumesExactly) {
  const std::string reference = whole_text("resume me", 150, 21);
  StreamRead first = cut_after_ten("resume me", 150, 21, true);
  StreamRead rest = resume(gateway_->port(), first.job, first.ids.back());
  ASSERT_EQ(rest.status, 200);
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(first.text + rest.text, reference);
  ASSERT_FALSE(rest.ids.empty());
  EXPECT_GT(std::stoull(rest.ids.front()), std::stoull(first.ids.back()));
  EXPECT_EQ(job_state(first.job), "SUCCEEDED");
  // After the end, while the log is kept: the same rest again.
  StreamRead again = resume(gateway_->port(), first.job, first.ids.back());
  EXPECT_EQ(again.text, rest.text);
}

// The legacy logprobs lists of a stream's chunks, concatenated (tokens, token_logprobs,
// top_logprobs, text_offset).
json joined_logprobs(const std::vector<json>& chunks) {
  json out = {{"tokens", json::array()}, {"token_logprobs", json::array()},
              {"top_logprobs", json::array()}, {"text_offset", json::array()}};
  for (const json& lp : chunks) {
    for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
      for (const json& x : lp[key]) out[key].push_back(x);
    }
  }
  return out;
}

// echo + logprobs 3 (the prompt's logprobs on seq 0, every token's alternatives): the whole
// answer, a stream cut after ten events and resumed from the log, and a resume after the end
// all carry the same lists; max_tokens 0 scores the prompt alone with the same values.
TEST_F(GatewayTest, EchoedPromptLogprobsAndAlternativesSurviveAResume) {
  json req = json::parse(body("resume my logprobs", 120, 31, false, true));
  req["echo"] = true;
  req["logprobs"] = 3;
  auto whole = gateway_->request("POST", "/v1/completions", req.dump());
  ASSERT_TRUE(whole.has_value());
  ASSERT_EQ(whole->status, 200) << whole->body;
  const json w = json::parse(whole->body);
  const json& lp = w["choices"][0]["logprobs"];
  const size_t n_prompt = w["usage"]["prompt_tokens"].get<size_t>();
  ASSERT_EQ(lp["tokens"].size(), n_prompt + 120);
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  for (size_t i = 1; i < lp["tokens"].size(); ++i) {
    const json& top = lp["top_logprobs"][i];
    ASSERT_TRUE(top.is_object() && !top.empty() && top.size() <= 3) << i << ": " << top;
    double best = -1e30;
    for (const auto& [text, v] : top.items()) best = std::max(best, v.get<double>());
    EXPECT_GE(best, lp["token_logprobs"][i].get<double>() - 1e-6) << i;
  }

  req["stream"] = true;
  HttpConnection c;
  StreamRead first;
  ASSERT_TRUE(open_stream(c, gateway_->port(), "POST", "/v1/completions", req.dump(), {gateway_->auth()}, first));
  ASSERT_EQ(first.status, 200);
  read_events(c, first, 10);
  ASSERT_EQ(first.ids.size(), 10u);
  StreamRead rest = resume(gateway_->port(), first.job, first.ids.back());
  ASSERT_TRUE(rest.done);
  std::vector<json> chunks = first.logprobs;
  chunks.insert(chunks.end(), rest.logprobs.begin(), rest.logprobs.end());
  EXPECT_EQ(first.text + rest.text, w["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(joined_logprobs(chunks), lp);
  HttpConnection again;  // the whole stream again, from seq 0 of the finished job's log
  StreamRead replay;
  ASSERT_TRUE(open_stream(again, gateway_->port(), "GET", "/v1/jobs/" + first.job + "/events", "",
                          {gateway_->auth()}, replay));
  ASSERT_EQ(replay.status, 200);
  read_events(again, replay);
  EXPECT_TRUE(replay.done);
  EXPECT_EQ(joined_logprobs(replay.logprobs), lp);

  json score = req;
  score["stream"] = false;
  score["max_tokens"] = 0;
  auto scored = gateway_->request("POST", "/v1/completions", score.dump());
  ASSERT_TRUE(scored.has_value());
  ASSERT_EQ(scored->status, 200) << scored->body;
  const json s = json::parse(scored->body);
  EXPECT_EQ(s["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(s["usage"]["completion_tokens"], 0);
  const json& slp = s["choices"][0]["logprobs"];
  ASSERT_EQ(slp["tokens"].size(), n_prompt);
  for (size_t i = 0; i < n_prompt; ++i) {
    EXPECT_EQ(slp["token_logprobs"][i], lp["token_logprobs"][i]) << i;
    EXPECT_EQ(slp["top_logprobs"][i], lp["top_logprobs"][i]) << i;
  }
}

// A prompt given as token ids (what evaluation harnesses send): the ids `ringserve-model
// tokenize` gives for a text (with its BOS) score exactly as the text does; two id prompts
// in one request are two choices; bad ids are a 400 naming prompt, or a 400 from the worker's
// vocabulary check.
TEST_F(GatewayTest, APromptOfTokenIdsScoresAsItsText) {
  const std::string text = "score these ids";
  auto tokenized = run_program({program("ringserve-model"), "tokenize", pool_->model_file(), text, "--json"}, "", 60000);
  ASSERT_TRUE(tokenized.has_value());
  const std::vector<int32_t> ids = json::parse(*tokenized).at("ids").get<std::vector<int32_t>>();
  ASSERT_GE(ids.size(), 3u);
  auto score = [&](const json& prompt) {
    json req = {{"model", "tiny"}, {"prompt", prompt}, {"echo", true}, {"max_tokens", 0}, {"logprobs", 2}};
    auto r = gateway_->request("POST", "/v1/completions", req.dump());
    EXPECT_TRUE(r.has_value());
    return r ? std::make_pair(r->status, json::parse(r->body)) : std::make_pair(0, json());
  };
  const auto [text_status, by_text] = score(text);
  ASSERT_EQ(text_status, 200) << by_text;
  const auto [ids_status, by_ids] = score(ids);
  ASSERT_EQ(ids_status, 200) << by_ids;
  EXPECT_EQ(by_ids["usage"]["prompt_tokens"], ids.size());
  EXPECT_EQ(by_ids["choices"][0]["text"], by_text["choices"][0]["text"]);
  EXPECT_EQ(by_ids["choices"][0]["logprobs"], by_text["choices"][0]["logprobs"]);

  const std::vector<int32_t> tail(ids.begin() + 1, ids.end());  // no BOS: nothing is added
  const auto [two_status, two] = score(json::array({ids, tail}));
  ASSERT_EQ(two_status, 200) << two;
  ASSERT_EQ(two["choices"].size(), 2u);
  EXPECT_EQ(two["usage"]["prompt_tokens"], ids.size() + tail.size());
  for (const json& c : two["choices"]) {
    const size_t want = c["index"] == 0 ? ids.size() : tail.size();
    EXPECT_EQ(c["logprobs"]["tokens"].size(), want) << c;
  }

  for (const json& bad : {json::array({1, -2}), json::array(), json::array({json::array()}),
                          json::array({"text", 1}), json::array({1.5})}) {
    const auto [status, err] = score(bad);
    EXPECT_EQ(status, 400) << bad << ": " << err;
    EXPECT_EQ(err["error"]["param"], "prompt") << bad << ": " << err;
  }
  const auto [oov_status, oov] = score(json::array({1, 1 << 30}));
  EXPECT_EQ(oov_status, 400) << oov;
  EXPECT_NE(oov.dump().find("outside the vocabulary"), std::string::npos) << oov;
}

TEST_F(GatewayTest, ANonBackgroundStreamReconnectedWithinTheGraceIsNotCancelled) {
  const std::string reference = whole_text("come back", 150, 22);
  StreamRead first = cut_after_ten("come back", 150, 22, false);
  StreamRead rest = resume(gateway_->port(), first.job, first.ids.back());
  ASSERT_EQ(rest.status, 200);
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(first.text + rest.text, reference);
  EXPECT_EQ(rest.finish_reason, "length");
  EXPECT_EQ(job_state(first.job), "SUCCEEDED");
}

TEST_F(GatewayTest, AStreamResumesOnANewGatewayAfterAKillNineOfTheFirst) {
  const std::string reference = whole_text("gateway dies", 150, 23);
  StreamRead first = cut_after_ten("gateway dies", 150, 23, false);
  gateway_->kill_hard();
  ASSERT_TRUE(gateway_->start()) << "the second gateway did not start";
  StreamRead rest = resume(gateway_->port(), first.job, first.ids.back());
  ASSERT_EQ(rest.status, 200);
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(first.text + rest.text, reference);
  EXPECT_EQ(job_state(first.job), "SUCCEEDED");
}

TEST_F(GatewayTest, AStreamResumesAfterAKillNineOfTheBroker) {
  const std::string reference = whole_text("broker dies", 200, 24);
  StreamRead first = cut_after_ten("broker dies", 200, 24, true);
  pool_->kill_broker();
  ASSERT_TRUE(pool_->restart_broker()) << "the broker did not restart";
  StreamRead rest = resume(gateway_->port(), first.job, first.ids.back());
  ASSERT_EQ(rest.status, 200);
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(first.text + rest.text, reference);
  EXPECT_EQ(job_state(first.job), "SUCCEEDED");
}

// No broker: 503 (OpenAI-shaped, Retry-After), the gateway stays up and serves again once
// the broker is back.
TEST_F(GatewayTest, WithoutABrokerItAnswers503AndRecovers) {
  pool_->kill_broker();
  auto r = gateway_->request("POST", "/v1/completions", body("anyone there", 4, 1, false));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_FALSE(r->header("retry-after").empty());
  json j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
  auto models = gateway_->request("GET", "/v1/models");
  ASSERT_TRUE(models.has_value());
  EXPECT_EQ(models->status, 503) << models->body;
  ASSERT_TRUE(pool_->restart_broker());
  EXPECT_TRUE(Pool::poll_until(20000, [&] {
    auto again = gateway_->request("POST", "/v1/completions", body("back again", 4, 1, false));
    return again && again->status == 200;
  }));
  EXPECT_TRUE(gateway_->process().alive());
}

// SIGTERM: an answer in flight is finished, then the gateway exits 0.
TEST_F(GatewayTest, SigtermFinishesTheAnswerInFlightThenExits) {
  HttpConnection c;
  ASSERT_TRUE(c.connect(gateway_->port()));
  ASSERT_TRUE(c.send_request("POST", "/v1/completions", body("last words", 60, 3, false),
                             {gateway_->auth()}));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the job is running
  ASSERT_EQ(::kill(gateway_->process().pid(), SIGTERM), 0);
  auto r = c.read_response(10000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["usage"]["completion_tokens"], 60);
  EXPECT_EQ(r->header("connection"), "close");
  ASSERT_TRUE(gateway_->process().wait_exit(10000));
  EXPECT_TRUE(WIFEXITED(gateway_->process().wait_status()) &&
              WEXITSTATUS(gateway_->process().wait_status()) == 0);
}

class GatewayDisconnectTest : public GatewayTest {
 protected:
  std::vector<std::string> gateway_args() const override {
    return {"--disconnect-grace-ms", "300"};
  }
  uint32_t kv_free() {
    uint32_t free = 0;
    for (const auto& d : pool_->devices()) free += d.kv_blocks_free;
    return free;
  }
};

TEST_F(GatewayDisconnectTest, AVanishedClientsJobIsCancelledAndItsKvBlocksComeBack) {
  const uint32_t idle = kv_free();
  ASSERT_GT(idle, 0u);
  StreamRead first = cut_after_ten("walk away", 1000, 31, false);
  json record;
  ASSERT_TRUE(Pool::poll_until(15000, [&] { return job_state(first.job, &record) == "CANCELLED"; }))
      << "state " << record.dump();
  EXPECT_LT(record["usage"]["completion_tokens"].get<int>(), 1000);
  EXPECT_EQ(record["finish_reason"], "cancelled");
  EXPECT_TRUE(Pool::poll_until(10000, [&] { return kv_free() == idle; }))
      << kv_free() << " of " << idle;
}

TEST_F(GatewayDisconnectTest, ABackgroundJobRunsToItsEndAndStaysResumable) {
  const std::string reference = whole_text("stay with me", 120, 32);
  StreamRead first = cut_after_ten("stay with me", 120, 32, true);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // past the grace
  ASSERT_TRUE(Pool::poll_until(30000, [&] { return job_state(first.job) == "SUCCEEDED"; }));
  StreamRead all = resume(gateway_->port(), first.job, "0");
  StreamRead from_start;
  HttpConnection c;
  ASSERT_TRUE(open_stream(c, gateway_->port(), "GET", "/v1/jobs/" + first.job + "/events?from=0",
                          "", {gateway_->auth()}, from_start));
  read_events(c, from_start);
  EXPECT_EQ(from_start.text, reference);
  EXPECT_TRUE(from_start.done);
}

// Status and error body for each bad request; the gateway serves a normal one afterwards.
TEST_F(GatewayTest, BadInputGetsItsStatusAndTheGatewayKeepsServing) {
  struct Case {
    std::string name, method, target, body;
    std::vector<std::string> headers;
    int status;
    std::string param;
  };
  const std::string auth = gateway_->auth();
  std::vector<Case> cases = {
      {"malformed json", "POST", "/v1/completions", "{\"model\":", {auth}, 400, ""},
      {"wrong type",
       "POST",
       "/v1/completions",
       R"({"model":"tiny","prompt":"x","max_tokens":"10"})",
       {auth},
       400,
       "max_tokens"},
      {"deep nesting", "POST", "/v1/completions", std::string(100000, '['), {auth}, 400, ""},
      {"invalid utf-8",
       "POST",
       "/v1/completions",
       "{\"model\":\"tiny\",\"prompt\":\"\xff\xfe\"}",
       {auth},
       400,
       ""},
      {"n 1e6",
       "POST",
       "/v1/completions",
       R"({"model":"tiny","prompt":"x","n":1000000})",
       {auth},
       400,
       "n"},
      {"negative max_tokens",
       "POST",
       "/v1/completions",
       R"({"model":"tiny","prompt":"x","max_tokens":-1})",
       {auth},
       400,
       "max_tokens"},
      {"unknown model",
       "POST",
       "/v1/completions",
       R"({"model":"nope","prompt":"x"})",
       {auth},
       404,
       "model"},
      {"missing key", "POST", "/v1/completions", R"({"model":"tiny","prompt":"x"})", {}, 401, ""},
      {"wrong key", "GET", "/v1/models", "", {"Authorization: Bearer rsk-wrong"}, 401, ""},
      {"logprobs 6",
       "POST",
       "/v1/completions",
       R"({"model":"tiny","prompt":"x","logprobs":6})",
       {auth},
       400,
       "logprobs"},
      {"logit_bias",
       "POST",
       "/v1/completions",
       R"({"model":"tiny","prompt":"x","logit_bias":{"1":5}})",
       {auth},
       400,
       "logit_bias"},
      {"max_tokens 0 without echo",
       "POST",
       "/v1/completions",
       R"({"model":"tiny","prompt":"x","max_tokens":0})",
       {auth},
       400,
       "max_tokens"},
      {"best_of",
       "POST",
       "/v1/completions",
       R"({"model":"tiny","prompt":"x","best_of":2})",
       {auth},
       400,
       "best_of"},
      {"unknown job", "GET", "/v1/jobs/j-nope", "", {auth}, 404, ""},
      {"unknown route", "GET", "/v2/nothing", "", {auth}, 404, ""},
      {"wrong method", "PUT", "/v1/completions", "{}", {auth}, 405, ""},
      {"10 MB body", "POST", "/v1/completions", std::string(10u << 20, ' '), {auth}, 413, ""},
      {"huge header",
       "GET",
       "/v1/models",
       "",
       {auth, "X-Big: " + std::string(32 << 10, 'a')},
       431,
       ""},
  };
  for (const auto& k : cases) {
    HttpConnection c;
    ASSERT_TRUE(c.connect(gateway_->port())) << k.name;
    auto r = c.request(k.method, k.target, k.body, k.headers, 30000);
    ASSERT_TRUE(r.has_value()) << k.name << ": no response";
    EXPECT_EQ(r->status, k.status) << k.name << ": " << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << k.name << ": " << r->body;
    EXPECT_TRUE(j["error"]["message"].is_string()) << k.name;
    EXPECT_TRUE(j["error"]["type"].is_string()) << k.name;
    if (!k.param.empty()) {
      EXPECT_EQ(j["error"]["param"], k.param) << k.name;
    }
  }
  // A revoked key stops working (the gateway polls the key version every 200 ms).
  {
    store::ApiKeys keys(pool_->redis());
    auto k = keys.add("temp");
    ASSERT_TRUE(k.ok());
    const std::string h = "Authorization: Bearer " + k->key;
    ASSERT_TRUE(Pool::poll_until(3000, [&] {
      HttpConnection c;
      return c.connect(gateway_->port()) && c.request("GET", "/v1/models", "", {h})->status == 200;
    }));
    ASSERT_TRUE(keys.revoke(k->id).ok());
    EXPECT_TRUE(Pool::poll_until(3000, [&] {
      HttpConnection c;
      return c.connect(gateway_->port()) && c.request("GET", "/v1/models", "", {h})->status == 401;
    }));
  }
  EXPECT_TRUE(gateway_->process().alive());
  EXPECT_FALSE(whole_text("still here", 8, 1).empty());
}

class GatewayIdleStreamsTest : public GatewayTest {
 protected:
  std::vector<std::string> worker_args() const override {
    return {"--step-delay-ms", "10", "--max-batch-size", "1"};
  }
  std::vector<std::string> gateway_args() const override { return {"--keepalive-ms", "500"}; }
  // The jobs here are submitted past the gateway (rs_client: no tenant): only an admin key
  // reads them through it (docs/HTTP.md "Keys and scopes").
  store::ApiScopes key_scopes() const override { return store::kScopesAll; }
};

int64_t rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// 1000 SSE connections to a job waiting in the queue (both devices busy): each gets its
// headers and keep-alive comments; the gateway holds them on its one HTTP thread.
TEST_F(GatewayIdleStreamsTest, AThousandIdleStreamsAreHeld) {
  constexpr int kStreams = 1000;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  ASSERT_GE(limit.rlim_cur, static_cast<rlim_t>(kStreams + 100));
  auto client = pool_->connect(10000);
  ASSERT_TRUE(client.ok());
  // Two long jobs hold both devices (one sequence each); a third waits in the queue.
  std::vector<std::string> jobs;
  for (int i = 0; i < 3; ++i) {
    schemas::SubmitRequest r = make_request("tiny", "hold the line", 1000, 0.8f, 60 + i);
    r.ignore_eos = true;
    r.stream = false;
    r.detach = true;
    auto a = (*client)->submit(r);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    jobs.push_back(a->job_id);
    if (i == 1) {
      ASSERT_TRUE(Pool::poll_until(5000, [&] {
        return job_state(jobs[0]) == "RUNNING" && job_state(jobs[1]) == "RUNNING";
      }));
    }
  }
  ASSERT_EQ(job_state(jobs[2]), "QUEUED");
  const int64_t rss_before = rss_kb(gateway_->process().pid());
  std::vector<std::unique_ptr<HttpConnection>> streams;
  int heads = 0;
  for (int i = 0; i < kStreams; ++i) {
    auto c = std::make_unique<HttpConnection>();
    ASSERT_TRUE(c->connect(gateway_->port())) << "connection " << i;
    ASSERT_TRUE(c->send_request("GET", "/v1/jobs/" + jobs[2] + "/events", "", {gateway_->auth()}));
    streams.push_back(std::move(c));
  }
  for (auto& c : streams) {
    auto head = c->read_head(30000);
    if (head && head->status == 200) ++heads;
  }
  EXPECT_EQ(heads, kStreams);
  // Each stream gets a keep-alive comment within a few intervals, and nothing else yet.
  int kept_alive = 0;
  for (auto& c : streams) {
    auto e = c->next_event(5000);
    if (e && e->comment) ++kept_alive;
  }
  EXPECT_EQ(kept_alive, kStreams);
  const int64_t rss_after = rss_kb(gateway_->process().pid());
  std::printf("gateway RSS: %lld kB before, %lld kB with %d idle streams (%.1f kB per stream)\n",
              static_cast<long long>(rss_before), static_cast<long long>(rss_after), kStreams,
              static_cast<double>(rss_after - rss_before) / kStreams);
  RecordProperty("gateway_rss_kb_idle_streams", std::to_string(rss_after));
  EXPECT_TRUE(gateway_->process().alive());
  streams.clear();
  for (const auto& j : jobs) (void)(*client)->cancel(j);
  EXPECT_FALSE(whole_text("still serving", 4, 1).empty());
}

}  // namespace
}  // namespace rs::test
