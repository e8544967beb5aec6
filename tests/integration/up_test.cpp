// `ringserve up` end to end: the real program starts a real redis-server, broker and
// worker in a temp dir; a client submits a streamed job through the endpoint it wrote;
// SIGINT stops everything (exit 0, no child left, endpoint file removed). Also: a worker
// that cannot load its model makes `up` fail with its log and leave nothing running, and
// a second `up` on the same var dir is refused; `up --serve` workers follow the registry.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http_client.h"
#include "ringserve_run.h"
#include "child_process.h"
#include "redis_server.h"
#include "rs/client/client.h"
#include "test_paths.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

using Ringserve = rs::test::RingserveRun;
using rs::test::all_gone_within;
using rs::test::children_of;
using rs::test::read_file;

class UpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!rs::test::RedisServer::available()) GTEST_SKIP() << "redis-server not installed";
    for (const char* p : {"ringserve", "ringserve-broker", "ringserve-worker", "ringserve-model"}) {
      ASSERT_TRUE(fs::exists(rs::test::bin_dir() + "/" + p)) << "missing program " << p;
    }
    char tmpl[] = "/tmp/rs-up-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(UpTest, StartsServesAndStopsOnSigint) {
  Ringserve up(dir_, {"up", "--workers", "1", "--devices", "2", "--json", "--max-batch-size", "8"});
  const fs::path endpoint_file = dir_ / "var" / "endpoint";
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (!fs::exists(endpoint_file) && up.running() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(endpoint_file)) << up.logs();
  ASSERT_TRUE(fs::exists(dir_ / "var" / "models" / "synth.gguf"));

  // The --json line, printed right after the endpoint file is written.
  nlohmann::json ready;
  deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline && up.out().find('\n') == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_NO_THROW(ready = nlohmann::json::parse(up.out().substr(0, up.out().find('\n'))))
      << up.logs();
  EXPECT_EQ(ready["devices"], 2);
  EXPECT_EQ(ready["workers"], 1);
  EXPECT_EQ(ready["model"], "synth");
  std::string endpoint = read_file(endpoint_file);
  while (!endpoint.empty() && endpoint.back() == '\n') endpoint.pop_back();
  EXPECT_EQ(ready["client_endpoint"], endpoint);

  // A second `up` on the same var dir is refused and leaves the first one alone.
  {
    Ringserve second(dir_, {"up"}, "second");
    EXPECT_EQ(second.wait_exit(30000), 1);
    EXPECT_NE(second.err().find("another"), std::string::npos) << second.err();
    EXPECT_TRUE(fs::exists(endpoint_file));
  }

  {
    rs::client::ClientOptions options;
    options.endpoint = endpoint;
    // `up` runs CURVE: the CLI's key and the broker's public key from var/keys.
    auto curve = rs::client::resolve_curve((dir_ / "var/keys/cli.key").string(),
                                           (dir_ / "var/keys/broker.pub").string());
    ASSERT_TRUE(curve.ok()) << curve.status().to_string();
    options.curve = *curve;
    auto client = rs::client::Client::connect(options);
    ASSERT_TRUE(client.ok()) << client.status().to_string();
    auto devices = (*client)->workers();
    ASSERT_TRUE(devices.ok()) << devices.status().to_string();
    ASSERT_EQ(devices->size(), 2u);
    std::set<int> ids;
    for (const auto& d : *devices) {
      ids.insert(d.device);
      EXPECT_EQ(d.models, std::vector<std::string>{"synth"});
    }
    EXPECT_EQ(ids, (std::set<int>{0, 1}));

    rs::schemas::SubmitRequest req;
    req.model = "synth";
    req.prompt = "Once upon a time";
    req.max_tokens = 16;
    req.sampling.temperature = 0;
    auto accepted = (*client)->submit(req);
    ASSERT_TRUE(accepted.ok()) << accepted.status().to_string();
    std::vector<uint64_t> seqs;
    auto record = (*client)->wait(
        accepted->job_id, [&](const rs::schemas::TokenEntry& e) { seqs.push_back(e.seq); }, 60000);
    ASSERT_TRUE(record.ok()) << record.status().to_string();
    EXPECT_EQ(record->state, rs::schemas::JobState::kSucceeded) << record->error;
    ASSERT_FALSE(seqs.empty());
    EXPECT_EQ(seqs.size(), record->usage.completion_tokens);
    for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i);
  }

  // The HTTP gateway: var/http holds its URL, var/api-key a key (0600) it accepts.
  const fs::path http_file = dir_ / "var" / "http";
  const fs::path key_file = dir_ / "var" / "api-key";
  auto http_deadline = Clock::now() + std::chrono::seconds(30);
  while (!fs::exists(http_file) && up.running() && Clock::now() < http_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(http_file)) << up.logs();
  ASSERT_TRUE(fs::exists(key_file));
  EXPECT_EQ(fs::status(key_file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  {
    std::string url = read_file(http_file), key = read_file(key_file);
    while (!url.empty() && url.back() == '\n') url.pop_back();
    while (!key.empty() && key.back() == '\n') key.pop_back();
    rs::test::HttpConnection http;
    ASSERT_TRUE(http.connect(std::stoi(url.substr(url.rfind(':') + 1)))) << url;
    auto models = http.request("GET", "/v1/models", "", {"Authorization: Bearer " + key});
    ASSERT_TRUE(models.has_value());
    EXPECT_EQ(models->status, 200) << models->body;
    EXPECT_NE(models->body.find("\"synth\""), std::string::npos) << models->body;
  }

  std::set<pid_t> children = children_of(up.pid());
  EXPECT_EQ(children.size(), 4u) << "expected redis, broker, one worker and the gateway";
  ASSERT_EQ(::kill(up.pid(), SIGINT), 0);
  EXPECT_EQ(up.wait_exit(60000), 0) << up.logs();
  EXPECT_TRUE(all_gone_within(children, 10000)) << "a child of `up` outlived it";
  EXPECT_FALSE(fs::exists(endpoint_file));
  EXPECT_FALSE(fs::exists(http_file));
  EXPECT_FALSE(fs::exists(key_file));
}

// The README's chat line, run as written (bash, in the directory `ringserve up` runs in)
// against `ringserve up` with no arguments: a streamed chat completion, role first, [DONE].
// The cached synthetic model there is an old one without a chat template: `up` remakes it.
TEST_F(UpTest, ReadmeChatCurlStreamsAChatCompletion) {
  std::string readme = read_file(rs::test::source_path("README.md"));
  std::string line;
  for (std::istringstream in(readme); std::getline(in, line);) {
    if (line.rfind("curl -N ", 0) == 0 && line.find("/v1/chat/completions") != std::string::npos) break;
    line.clear();
  }
  ASSERT_FALSE(line.empty()) << "README.md has no `curl -N .../v1/chat/completions` line";
  const std::string old_model = rs::test::model_path("stories260K.gguf");  // no chat template
  RS_REQUIRE_FILE(old_model);
  fs::create_directories(dir_ / "var" / "models");
  fs::copy_file(old_model, dir_ / "var" / "models" / "synth.gguf");

  Ringserve up(dir_, {"up"});
  // The key is written before the gateway starts; var/http once it listens.
  const fs::path key_file = dir_ / "var" / "api-key";
  const fs::path http_file = dir_ / "var" / "http";
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (!(fs::exists(key_file) && fs::exists(http_file)) && up.running() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(key_file) && fs::exists(http_file)) << up.logs();
  EXPECT_NE(up.out().find("remaking"), std::string::npos) << up.out();

  const fs::path out_file = dir_ / "curl.out";
  auto out = rs::test::run_program({"/bin/bash", "-c", "cd '" + dir_.string() + "' && " + line}, (dir_ / "curl.err").string(),
                                   60000);
  ASSERT_TRUE(out.has_value()) << read_file(dir_ / "curl.err") << up.logs();
  std::vector<nlohmann::json> chunks;
  bool done = false;
  for (std::istringstream in(*out); std::getline(in, line);) {
    if (line.rfind("data: ", 0) != 0) continue;
    ASSERT_FALSE(done) << "data after [DONE]: " << *out;
    if (line == "data: [DONE]") {
      done = true;
      continue;
    }
    chunks.push_back(nlohmann::json::parse(line.substr(6)));
  }
  ASSERT_TRUE(done) << *out;
  ASSERT_GE(chunks.size(), 2u) << *out;
  for (const auto& c : chunks) EXPECT_EQ(c["object"], "chat.completion.chunk") << c.dump();
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant") << *out;
  EXPECT_FALSE(chunks.back()["choices"][0]["finish_reason"].is_null()) << *out;
  ASSERT_EQ(::kill(up.pid(), SIGINT), 0);
  EXPECT_EQ(up.wait_exit(60000), 0) << up.logs();
}

// `up --serve tiny`: the workers follow the registry; `ringserve models add --activate`
// (finding Redis through var/redis) makes them load tiny@1, and a job reports it.
TEST_F(UpTest, ServeFollowsTheRegistry) {
  Ringserve up(dir_, {"up", "--workers", "1", "--devices", "1", "--serve", "tiny"});
  const fs::path endpoint_file = dir_ / "var" / "endpoint";
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!fs::exists(endpoint_file) && up.running() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(endpoint_file)) << up.logs();
  ASSERT_TRUE(fs::exists(dir_ / "var" / "redis")) << "up must write its Redis address";
  const std::string model = (dir_ / "tiny.gguf").string();
  ASSERT_TRUE(rs::test::run_program({rs::test::bin_dir() + "/ringserve-model", "synth", model}, "", 60000));
  Ringserve add(dir_, {"models", "add", "tiny", model, "--activate"}, "add");
  ASSERT_EQ(add.wait_exit(30000), 0) << add.out() << add.err();

  std::string endpoint = read_file(endpoint_file);
  while (!endpoint.empty() && endpoint.back() == '\n') endpoint.pop_back();
  rs::client::ClientOptions options;
  options.endpoint = endpoint;
  auto curve = rs::client::resolve_curve((dir_ / "var/keys/cli.key").string(),
                                         (dir_ / "var/keys/broker.pub").string());
  ASSERT_TRUE(curve.ok()) << curve.status().to_string();
  options.curve = *curve;
  auto client = rs::client::Client::connect(options);
  ASSERT_TRUE(client.ok());
  bool loaded = false;
  deadline = Clock::now() + std::chrono::seconds(30);
  while (!loaded && Clock::now() < deadline) {
    auto devices = (*client)->workers();
    loaded = devices.ok() && devices->size() == 1 && devices->at(0).models == std::vector<std::string>{"tiny@1"};
    if (!loaded) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(loaded) << up.logs();
  Ringserve submit(dir_, {"submit", "--wait", "--json", "--max-tokens", "4", "hello"}, "submit");
  ASSERT_EQ(submit.wait_exit(30000), 0) << submit.out() << submit.err();
  std::string out = submit.out();
  while (!out.empty() && out.back() == '\n') out.pop_back();
  auto record = nlohmann::json::parse(out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1));
  EXPECT_EQ(record["model"], "tiny") << out;
  EXPECT_EQ(record["model_version"], 1) << out;
  EXPECT_EQ(record["state"], "SUCCEEDED") << out;

  ASSERT_EQ(::kill(up.pid(), SIGINT), 0);
  EXPECT_EQ(up.wait_exit(60000), 0) << up.logs();
}

TEST_F(UpTest, WorkerThatCannotLoadItsModelFailsCleanly) {
  {
    std::ofstream bad(dir_ / "bad.gguf");
    bad << "this is not a GGUF file";
  }
  Ringserve up(dir_, {"up", "--model", "bad.gguf", "--start-timeout-ms", "60000"});
  std::set<pid_t> children;
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (up.running() && Clock::now() < deadline) {
    for (pid_t p : children_of(up.pid())) children.insert(p);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(up.wait_exit(1000), 1) << up.logs();
  std::string err = up.err();
  EXPECT_NE(err.find("worker-1"), std::string::npos) << err;
  EXPECT_NE(err.find("worker-1.log"), std::string::npos) << err;
  EXPECT_TRUE(all_gone_within(children, 10000)) << "a child of `up` outlived it";
  EXPECT_FALSE(fs::exists(dir_ / "var" / "endpoint"));
}

TEST_F(UpTest, MissingModelFileIsAClearError) {
  Ringserve up(dir_, {"up", "--model", "no-such-model.gguf"});
  EXPECT_EQ(up.wait_exit(30000), 1);
  EXPECT_NE(up.err().find("model file not found: no-such-model.gguf"), std::string::npos)
      << up.err();
}

}  // namespace
