// `ringserve keys add|list|revoke`: the real program against a real redis-server. add ->
// list shows it -> revoke -> list empty, checking what Redis holds after each step (the
// key's hash, never the key); revoke by key; --json lines; Redis found from --redis,
// RINGSERVE_REDIS and ./var/redis; errors are one line with exit 1 (usage errors 2).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "redis_server.h"
#include "rs/store/api_keys.h"
#include "test_paths.h"

namespace rs::test::keys_cli {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int exit = -1;
  std::vector<std::string> out;  // stdout lines
  std::string err;               // all of stderr
};

class KeysCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("RINGSERVE_REDIS");
    if (!RedisServer::available()) {
      if (in_ci()) FAIL() << "redis-server not installed";
      GTEST_SKIP() << "redis-server not installed";
    }
    ASSERT_TRUE(redis_.start());
    store::RedisOptions ro;
    ro.port = redis_.port();
    conn_ = std::make_unique<store::RedisConnection>(ro);
    ASSERT_TRUE(conn_->connect().ok());
  }
  void TearDown() override { ::unsetenv("RINGSERVE_REDIS"); }

  std::string address() const { return "127.0.0.1:" + std::to_string(redis_.port()); }
  std::string bin() const { return fs::absolute(bin_dir()).string() + "/ringserve"; }

  // Runs argv to its end; stderr to a fresh file.
  CliRun run_argv(const std::vector<std::string>& argv) {
    std::string err_path = dir_.file("err" + std::to_string(++n_runs_) + ".txt");
    ChildProcess p;
    CliRun r;
    EXPECT_TRUE(p.start(argv, err_path));
    std::istringstream out(p.read_all(10000));
    EXPECT_TRUE(p.wait_exit(5000));
    for (std::string line; std::getline(out, line);) r.out.push_back(line);
    r.exit = p.exit_code();
    std::ifstream in(err_path);
    r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return r;
  }
  // `ringserve keys ARGS... --redis <the test's redis>`.
  CliRun keys(std::vector<std::string> args) {
    args.insert(args.begin(), {bin(), "keys"});
    args.insert(args.end(), {"--redis", address()});
    return run_argv(args);
  }
  // Every value in Redis, as one text.
  std::string everything_stored() {
    auto names = conn_->command({"KEYS", "*"});
    EXPECT_TRUE(names.ok());
    std::string all;
    for (const auto& n : names->elements) {
      auto r = conn_->command({"HGETALL", n.str});
      if (r.ok() && r->is_error()) r = conn_->command({"GET", n.str});
      all += n.str + "\n" + r->str + "\n";
      for (const auto& e : r->elements) all += e.str + "\n";
    }
    return all;
  }

  RedisServer redis_;
  TempDir dir_{"rs-keys-cli"};
  std::unique_ptr<store::RedisConnection> conn_;
  int n_runs_ = 0;
};

TEST_F(KeysCliTest, AddListRevokeList) {
  CliRun add = keys({"add", "acme"});
  ASSERT_EQ(add.exit, 0) << add.err;
  ASSERT_EQ(add.out.size(), 1u);
  const std::string key = add.out[0];
  ASSERT_EQ(key.size(), 44u) << key;
  EXPECT_EQ(key.rfind("rsk-", 0), 0u);
  const std::string id = key.substr(0, 12);
  EXPECT_NE(add.err.find("cannot be shown again"), std::string::npos) << add.err;
  EXPECT_EQ(add.err.find(key), std::string::npos) << "the key goes to stdout only";

  std::string stored = everything_stored();
  EXPECT_EQ(stored.find(key.substr(4)), std::string::npos) << stored;
  store::ApiKeys api(*conn_);
  auto all = api.load_all();
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->at(store::api_key_hash(key)).tenant, "acme");
  EXPECT_EQ(all->at(store::api_key_hash(key)).scopes, store::kDefaultScopes);

  CliRun list = keys({"list"});
  ASSERT_EQ(list.exit, 0) << list.err;
  ASSERT_EQ(list.out.size(), 2u);
  EXPECT_EQ(list.out[0].rfind("ID", 0), 0u) << list.out[0];
  EXPECT_NE(list.out[0].find("TENANT"), std::string::npos);
  EXPECT_NE(list.out[0].find("CREATED"), std::string::npos);
  EXPECT_EQ(list.out[1].rfind(id, 0), 0u) << list.out[1];
  EXPECT_NE(list.out[1].find("acme"), std::string::npos);
  EXPECT_EQ(list.out[1].find(key), std::string::npos);

  CliRun json = keys({"list", "--json"});
  ASSERT_EQ(json.exit, 0) << json.err;
  ASSERT_EQ(json.out.size(), 1u);
  auto j = nlohmann::json::parse(json.out[0]);
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["tenant"], "acme");
  EXPECT_GT(j["created_ms"].get<uint64_t>(), 1'600'000'000'000u);
  EXPECT_EQ(j["scopes"], "infer,jobs:read");
  EXPECT_EQ(j.size(), 4u) << json.out[0];

  CliRun revoke = keys({"revoke", id});
  ASSERT_EQ(revoke.exit, 0) << revoke.err;
  EXPECT_EQ(revoke.out, std::vector<std::string>{"revoked " + id});
  all = api.load_all();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  EXPECT_EQ(api.version().value(), 2u);

  CliRun empty = keys({"list"});
  ASSERT_EQ(empty.exit, 0) << empty.err;
  EXPECT_EQ(empty.out, std::vector<std::string>{"no api keys"});
  CliRun empty_json = keys({"list", "--json"});
  ASSERT_EQ(empty_json.exit, 0) << empty_json.err;
  EXPECT_TRUE(empty_json.out.empty());

  CliRun again = keys({"revoke", id});
  EXPECT_EQ(again.exit, 1);
  EXPECT_EQ(again.err, "error: not_found: api key '" + id + "': no such key\n");
}

TEST_F(KeysCliTest, JsonAddAndRevokeByKey) {
  CliRun add = keys({"add", "globex", "--json"});
  ASSERT_EQ(add.exit, 0) << add.err;
  ASSERT_EQ(add.out.size(), 1u);
  auto j = nlohmann::json::parse(add.out[0]);
  std::string key = j["key"];
  EXPECT_EQ(j["id"], key.substr(0, 12));
  EXPECT_EQ(j["tenant"], "globex");
  keys({"add", "other"});

  CliRun revoke = keys({"revoke", key, "--json"});
  ASSERT_EQ(revoke.exit, 0) << revoke.err;
  ASSERT_EQ(revoke.out.size(), 1u);
  EXPECT_EQ(revoke.out[0].find(key), std::string::npos) << "a revoke never echoes the key";
  auto r = nlohmann::json::parse(revoke.out[0]);
  EXPECT_EQ(r["id"], key.substr(0, 12));
  EXPECT_EQ(r["revoked"], true);
  auto all = store::ApiKeys(*conn_).load_all();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->begin()->second.tenant, "other");
}

TEST_F(KeysCliTest, ErrorsAreOneLineAndNonZero) {
  CliRun bad = keys({"add", "bad tenant"});
  EXPECT_EQ(bad.exit, 1);
  EXPECT_TRUE(bad.out.empty());
  EXPECT_EQ(bad.err, "error: invalid_argument: tenant 'bad tenant': want 1-64 of [A-Za-z0-9._-]\n");

  CliRun unknown = keys({"revoke", "rsk-nothere1"});
  EXPECT_EQ(unknown.exit, 1);
  EXPECT_EQ(unknown.err, "error: not_found: api key 'rsk-nothere1': no such key\n");

  CliRun json_err = keys({"revoke", "rsk-nothere1", "--json"});
  EXPECT_EQ(json_err.exit, 1);
  ASSERT_EQ(json_err.out.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(json_err.out[0])["error"], "not_found");

  CliRun down = run_argv({bin(), "keys", "list", "--redis", "127.0.0.1:1"});
  EXPECT_EQ(down.exit, 1);
  EXPECT_EQ(down.err.rfind("error: unavailable: redis unreachable", 0), 0u) << down.err;
  EXPECT_EQ(std::count(down.err.begin(), down.err.end(), '\n'), 1);

  CliRun missing =
      run_argv({"/bin/sh", "-c", "cd " + dir_.path() + " && exec " + bin() + " keys list"});
  EXPECT_EQ(missing.exit, 1);
  EXPECT_NE(missing.err.find("no redis address"), std::string::npos) << missing.err;

  CliRun usage = run_argv({bin(), "keys", "add"});
  EXPECT_EQ(usage.exit, 2);

  CliRun bad_scope = keys({"add", "--tenant", "acme", "--scope", "infer,root"});
  EXPECT_EQ(bad_scope.exit, 1);
  EXPECT_NE(bad_scope.err.find("scope 'root'"), std::string::npos) << bad_scope.err;
}

TEST_F(KeysCliTest, ScopesAreStoredAndListed) {
  CliRun add = keys({"add", "--tenant", "acme", "--scope", "infer,admin", "--json"});
  ASSERT_EQ(add.exit, 0) << add.err;
  ASSERT_EQ(add.out.size(), 1u);
  auto j = nlohmann::json::parse(add.out[0]);
  EXPECT_EQ(j["scopes"], "infer,admin");
  EXPECT_NE(add.err.find("(scopes infer,admin)"), std::string::npos) << add.err;
  auto all = store::ApiKeys(*conn_).load_all();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->at(store::api_key_hash(j["key"].get<std::string>())).scopes,
            store::kScopeInfer | store::kScopeAdmin);
  CliRun list = keys({"list"});
  ASSERT_EQ(list.exit, 0) << list.err;
  ASSERT_EQ(list.out.size(), 2u);
  EXPECT_NE(list.out[0].find("SCOPES"), std::string::npos) << list.out[0];
  EXPECT_NE(list.out[1].find("infer,admin"), std::string::npos) << list.out[1];
}

TEST_F(KeysCliTest, RedisFromEnvironmentThenVarFile) {
  ::setenv("RINGSERVE_REDIS", address().c_str(), 1);
  CliRun add = run_argv({bin(), "keys", "add", "initech"});
  ASSERT_EQ(add.exit, 0) << add.err;
  ::unsetenv("RINGSERVE_REDIS");

  fs::create_directories(dir_.file("var"));
  std::ofstream(dir_.file("var/redis")) << address() << "\n";
  CliRun list =
      run_argv({"/bin/sh", "-c", "cd " + dir_.path() + " && exec " + bin() + " keys list --json"});
  ASSERT_EQ(list.exit, 0) << list.err;
  ASSERT_EQ(list.out.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(list.out[0])["tenant"], "initech");
}

}  // namespace
}  // namespace rs::test::keys_cli
