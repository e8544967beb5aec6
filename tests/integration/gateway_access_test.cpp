// Acceptance (issue 17, gateway part): TLS and per-key scopes with tenant isolation, over a
// real pool (redis-server, broker, worker with the tiny synthetic model, ringserve-gateway).
// TLS: completions whole and streamed, and a resume, through curl verifying the
// self-signed certificate; plain HTTP and refused handshakes to the TLS port are counted
// and the gateway keeps serving. Scopes: a key without `infer`, `jobs:read` or `admin`
// gets 403 where it needs one. Tenants: another tenant's job is a 404 with the very body
// of an unknown job, for read, resume and cancel; its own tenant and an admin key see it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gateway_process.h"
#include "tls_files.h"

namespace rs::test {
namespace {

using nlohmann::json;

std::string completion(int max_tokens, bool stream, bool background = false) {
  return json{{"model", "tiny"},
              {"prompt", "Once upon a time"},
              {"max_tokens", max_tokens},
              {"seed", 7},
              {"ignore_eos", true},
              {"stream", stream},
              {"background", background}}
      .dump();
}

std::string bearer(const std::string& key) { return "Authorization: Bearer " + key; }

// The gateway's body for a job id that does not exist (docs/HTTP.md "Keys and scopes").
std::string error_body_of(const std::string& job) {
  return json{{"error",
               {{"message", "no job '" + job + "'"},
                {"type", "invalid_request_error"},
                {"param", nullptr},
                {"code", "job_not_found"}}}}
      .dump();
}

// The SSE event ids in a stream's text, in order.
std::vector<uint64_t> event_ids(const std::string& text) {
  std::vector<uint64_t> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("id: ", 0) == 0) out.push_back(std::stoull(line.substr(4)));
  }
  return out;
}

class GatewayAccessTest : public ::testing::Test {
 protected:
  virtual std::vector<std::string> gateway_args() { return {}; }
  void SetUp() override {
    PoolOptions o;
    o.workers = 1;
    o.devices = 1;
    o.heartbeat_ms = 200;
    o.worker_args = {"--step-delay-ms", "5"};  // a 400-token job runs for seconds
    pool_ = std::make_unique<Pool>(o);
    RS_REQUIRE_POOL(*pool_);
    ASSERT_TRUE(pool_->start()) << "pool did not start";
    gateway_ = std::make_unique<GatewayProcess>(*pool_);
    ASSERT_NO_FATAL_FAILURE(before_gateway());
    ASSERT_TRUE(gateway_->start(gateway_args())) << "gateway did not start";
  }
  virtual void before_gateway() {}
  // A key made before the gateway starts (so its first key load has it).
  std::string add_key(const std::string& tenant, store::ApiScopes scopes) {
    store::ApiKeys keys(pool_->redis());
    auto k = keys.add(tenant, scopes);
    EXPECT_TRUE(k.ok()) << k.status().to_string();
    return k.ok() ? k->key : "";
  }
  HttpResponse as(const std::string& key, const std::string& method, const std::string& target,
                  const std::string& body = "") {
    HttpConnection c;
    EXPECT_TRUE(c.connect(gateway_->port()));
    auto r = c.request(method, target, body, {bearer(key)});
    EXPECT_TRUE(r.has_value()) << method << " " << target;
    return r.value_or(HttpResponse{});
  }

  std::unique_ptr<Pool> pool_;
  std::unique_ptr<GatewayProcess> gateway_;
};

class GatewayScopesTest : public GatewayAccessTest {
 protected:
  void before_gateway() override {
    globex_ = add_key("globex", store::kDefaultScopes);
    admin_ = add_key("ops", store::kScopeAdmin);
    infer_only_ = add_key("acme", store::kScopeInfer);
    read_only_ = add_key("acme", store::kScopeJobsRead);
  }
  // A finished background job of tenant acme (the gateway's default key).
  std::string acme_job() {
    HttpConnection c;
    StreamRead s;
    EXPECT_TRUE(open_stream(c, gateway_->port(), "POST", "/v1/completions",
                            completion(6, true, true), {gateway_->auth()}, s));
    EXPECT_EQ(s.status, 200);
    read_events(c, s);
    EXPECT_TRUE(s.done);
    return s.job;
  }
  std::string globex_, admin_, infer_only_, read_only_;
};

TEST_F(GatewayScopesTest, AnotherTenantsJobIsNotFoundExactlyLikeAnUnknownOne) {
  const std::string job = acme_job();
  ASSERT_FALSE(job.empty());
  const std::string unknown = "j-00000000deadbeef-1";
  HttpResponse none = as(globex_, "GET", "/v1/jobs/" + unknown);
  ASSERT_EQ(none.status, 404) << none.body;
  EXPECT_EQ(none.body, error_body_of(unknown));
  std::string want = none.body;
  want.replace(want.find(unknown), unknown.size(), job);
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/jobs/" + job},
                                                        {"GET", "/v1/jobs/" + job + "/events"},
                                                        {"DELETE", "/v1/jobs/" + job}}) {
    HttpResponse r = as(globex_, method, target);
    EXPECT_EQ(r.status, 404) << method << " " << target << ": " << r.body;
    EXPECT_EQ(r.body, want) << method << " " << target;
  }
  HttpConnection c;  // a resume with Last-Event-ID too
  auto r = c.connect(gateway_->port())
               ? c.request("GET", "/v1/jobs/" + job + "/events", "",
                           {bearer(globex_), "Last-Event-ID: 2"})
               : std::nullopt;
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, want);

  // Its own tenant reads and resumes it; an admin key of another tenant reads it.
  HttpResponse mine = gateway_->request("GET", "/v1/jobs/" + job).value_or(HttpResponse{});
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(json::parse(mine.body)["tenant"], "acme");
  EXPECT_EQ(json::parse(mine.body)["state"], "SUCCEEDED") << "the foreign cancel changed nothing";
  HttpConnection resumed;
  StreamRead rest;
  ASSERT_TRUE(open_stream(resumed, gateway_->port(), "GET", "/v1/jobs/" + job + "/events", "",
                          {gateway_->auth(), "Last-Event-ID: 2"}, rest));
  EXPECT_EQ(rest.status, 200);
  read_events(resumed, rest);
  EXPECT_TRUE(rest.done);
  ASSERT_FALSE(rest.ids.empty());
  EXPECT_GT(std::stoull(rest.ids.front()), 2u) << "only the events after Last-Event-ID";
  EXPECT_EQ(as(admin_, "GET", "/v1/jobs/" + job).status, 200);
}

TEST_F(GatewayScopesTest, AnotherTenantCannotCancelARunningJobItsOwnerCan) {
  HttpConnection c;
  StreamRead s;
  ASSERT_TRUE(open_stream(c, gateway_->port(), "POST", "/v1/completions",
                          completion(400, true, true), {gateway_->auth()}, s));
  ASSERT_EQ(s.status, 200);
  read_events(c, s, 2);
  c.close();
  HttpResponse foreign = as(globex_, "DELETE", "/v1/jobs/" + s.job);
  EXPECT_EQ(foreign.status, 404) << foreign.body;
  EXPECT_EQ(foreign.body, error_body_of(s.job));
  HttpResponse still = as(gateway_->key(), "GET", "/v1/jobs/" + s.job);
  ASSERT_EQ(still.status, 200);
  EXPECT_NE(json::parse(still.body)["state"], "CANCELLED") << still.body;
  HttpResponse mine = as(gateway_->key(), "DELETE", "/v1/jobs/" + s.job);
  EXPECT_EQ(mine.status, 200) << mine.body;
  bool cancelled = false;
  for (int i = 0; i < 100 && !cancelled; ++i) {
    HttpResponse r = as(gateway_->key(), "GET", "/v1/jobs/" + s.job);
    cancelled = json::parse(r.body)["state"] == "CANCELLED";
    if (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(cancelled);
}

TEST_F(GatewayScopesTest, MissingScopesAre403PermissionErrors) {
  auto expect_403 = [&](const std::string& key, const std::string& method,
                        const std::string& target, const std::string& body,
                        const std::string& scope) {
    HttpResponse r = as(key, method, target, body);
    EXPECT_EQ(r.status, 403) << method << " " << target << ": " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.body;
    EXPECT_EQ(j["error"]["type"], "permission_error");
    EXPECT_EQ(j["error"]["code"], "insufficient_scope");
    EXPECT_NE(j["error"]["message"].get<std::string>().find("'" + scope + "'"),
              std::string::npos)
        << r.body;
  };
  const std::string job = acme_job();
  // infer only: generates, but no job reads and no admin endpoint.
  EXPECT_EQ(as(infer_only_, "POST", "/v1/completions", completion(3, false)).status, 200);
  EXPECT_EQ(as(infer_only_, "GET", "/v1/models").status, 200);
  expect_403(infer_only_, "GET", "/v1/jobs/" + job, "", "jobs:read");
  expect_403(infer_only_, "GET", "/v1/jobs/" + job + "/events", "", "jobs:read");
  expect_403(infer_only_, "DELETE", "/v1/jobs/" + job, "", "jobs:read");
  expect_403(infer_only_, "GET", "/v1/admin/workers", "", "admin");
  // jobs:read only: reads its tenant's job, generates nothing.
  EXPECT_EQ(as(read_only_, "GET", "/v1/jobs/" + job).status, 200);
  expect_403(read_only_, "POST", "/v1/completions", completion(3, false), "infer");
  expect_403(read_only_, "POST", "/v1/chat/completions", "{}", "infer");
  expect_403(read_only_, "GET", "/v1/models", "", "infer");
  // The default scopes have no admin; an admin key lists the pool's devices.
  expect_403(gateway_->key(), "GET", "/v1/admin/workers", "", "admin");
  HttpResponse workers = as(admin_, "GET", "/v1/admin/workers");
  ASSERT_EQ(workers.status, 200) << workers.body;
  EXPECT_EQ(json::parse(workers.body)["data"].size(), 1u) << workers.body;
  expect_403(admin_, "POST", "/v1/completions", completion(3, false), "infer");
}

class GatewayTlsTest : public GatewayAccessTest {
 protected:
  void before_gateway() override {
    auto files = make_self_signed(pool_->dir(), "gateway");
    ASSERT_TRUE(files.has_value()) << "openssl req failed (is the openssl package installed?)";
    tls_ = *files;
  }
  std::vector<std::string> gateway_args() override {
    return {"--tls-cert", tls_.cert, "--tls-key", tls_.key, "--metrics-port", "0"};
  }
  std::string url(const std::string& target) const {
    return "https://127.0.0.1:" + std::to_string(gateway_->port()) + target;
  }
  CurlResult https(const std::string& target, const std::string& body = "",
                   std::vector<std::string> headers = {}) {
    headers.push_back(gateway_->auth());
    return curl(pool_->dir(), url(target), tls_.cert, headers, body);
  }
  // ringserve_http_tls_handshake_failures_total from the gateway's metrics port.
  double handshake_failures() {
    auto line = gateway_->process().wait_for_line("metrics_url ", 5000);
    EXPECT_TRUE(line.has_value());
    if (!line) return -1;
    HttpConnection c;
    if (!c.connect(std::stoi(line->substr(line->rfind(':') + 1)))) return -1;
    auto r = c.request("GET", "/metrics");
    if (!r) return -1;
    const std::string name = "ringserve_http_tls_handshake_failures_total ";
    const size_t at = r->body.find("\n" + name);
    return at == std::string::npos ? -1 : std::stod(r->body.substr(at + 1 + name.size()));
  }
  TlsFiles tls_;
};

TEST_F(GatewayTlsTest, CompletionsStreamsAndResumesOverVerifiedTls) {
  CurlResult whole = https("/v1/completions", completion(8, false));
  ASSERT_EQ(whole.exit, 0) << file_tail(pool_->dir().file("curl.err"));
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_FALSE(json::parse(whole.body)["choices"][0]["text"].get<std::string>().empty());

  CurlResult stream = https("/v1/completions", completion(8, true, true));
  ASSERT_EQ(stream.exit, 0) << file_tail(pool_->dir().file("curl.err"));
  ASSERT_EQ(stream.status, 200) << stream.body;
  const std::vector<uint64_t> ids = event_ids(stream.body);
  ASSERT_FALSE(ids.empty()) << stream.body;
  EXPECT_NE(stream.body.find("data: [DONE]"), std::string::npos) << stream.body;
  const std::string job = stream.header("x-ringserve-job");
  ASSERT_FALSE(job.empty()) << stream.headers;

  const std::string last = std::to_string(ids.front());
  CurlResult rest = https("/v1/jobs/" + job + "/events", "", {"Last-Event-ID: " + last});
  ASSERT_EQ(rest.exit, 0);
  ASSERT_EQ(rest.status, 200) << rest.body;
  EXPECT_EQ(event_ids(rest.body),
            std::vector<uint64_t>(ids.begin() + 1, ids.end())) << "the rest, exactly";
  EXPECT_NE(rest.body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(https("/v1/jobs/" + job).status, 200);
}

TEST_F(GatewayTlsTest, PlainHttpAndRefusedHandshakesAreCountedAndServingGoesOn) {
  EXPECT_EQ(handshake_failures(), 0);
  {
    HttpConnection plain;  // plain HTTP to the TLS port: closed, no answer
    ASSERT_TRUE(plain.connect(gateway_->port()));
    auto r = plain.request("GET", "/v1/models", "", {gateway_->auth()});
    EXPECT_TRUE(!r.has_value() || r->status == 0 || r->status >= 400);
  }
  // A client that does not trust the certificate aborts the handshake.
  CurlResult untrusted = curl(pool_->dir(), url("/v1/models"), "", {gateway_->auth()});
  EXPECT_NE(untrusted.exit, 0);
  EXPECT_EQ(untrusted.status, 0);
  {
    HttpConnection garbage;  // bytes that are no TLS record at all
    ASSERT_TRUE(garbage.connect(gateway_->port()));
    garbage.send_raw(std::string(300, '\x16'));
  }
  bool counted = false;
  for (int i = 0; i < 100 && !counted; ++i) {
    counted = handshake_failures() >= 3;
    if (!counted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(counted) << handshake_failures();
  CurlResult models = https("/v1/models");
  ASSERT_EQ(models.exit, 0);
  EXPECT_EQ(models.status, 200) << models.body;
  EXPECT_TRUE(gateway_->process().alive());
}

TEST(GatewayTlsStartTest, BadCertificateOrKeyIsAClearStartupError) {
  TempDir dir("rs-gw-tls");
  auto a = make_self_signed(dir, "a");
  auto b = make_self_signed(dir, "b");
  ASSERT_TRUE(a && b) << "openssl req failed";
  std::ofstream(dir.file("junk.pem")) << "not a certificate\n";
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--tls-cert", a->cert}, "--tls-cert and --tls-key go together"},
      {{"--tls-cert", dir.file("none.crt"), "--tls-key", a->key}, "no such file"},
      {{"--tls-cert", dir.file("junk.pem"), "--tls-key", a->key}, "not a PEM certificate"},
      {{"--tls-cert", a->cert, "--tls-key", dir.file("junk.pem")}, "not a PEM private key"},
      {{"--tls-cert", a->cert, "--tls-key", b->key}, "does not match the certificate"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {program("ringserve-gateway"), "--broker",
                                     "tcp://127.0.0.1:1", "--no-auth", "--port", "0"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    ChildProcess p;
    ASSERT_TRUE(p.start(argv, dir.file("gw.err")));
    ASSERT_TRUE(p.wait_exit(10000)) << c.says;
    EXPECT_EQ(p.exit_code(), 1) << c.says;
    const std::string err = file_tail(dir.file("gw.err"));
    EXPECT_NE(err.find(c.says), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace rs::test
