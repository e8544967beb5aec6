// `ringserve up` runs its redis-server with ACL users (docs/REDIS.md "Users and passwords"):
// var/redis.acl and var/keys/redis-<role>.password are private (0600, keys/ 0700) and hold
// no password in clear in the ACL file; an unauthenticated client gets NOAUTH; each role
// logs in with its own password and is refused what it has no use for; `ringserve keys list`
// in the directory logs in as `cli` by itself; a second `up` reuses the passwords and
// serves again.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "child_process.h"
#include "redis_server.h"
#include "ringserve_run.h"
#include "rs/client/client.h"
#include "rs/store/redis_connection.h"
#include "test_paths.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

using rs::test::read_file;
using Ringserve = rs::test::RingserveRun;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class UpAclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!rs::test::RedisServer::available()) {
      if (rs::test::in_ci()) FAIL() << "redis-server not installed";
      GTEST_SKIP() << "redis-server not installed";
    }
    for (const char* p : {"ringserve", "ringserve-broker", "ringserve-worker", "ringserve-model"}) {
      ASSERT_TRUE(fs::exists(rs::test::bin_dir() + "/" + p)) << "missing program " << p;
    }
  }
  bool wait_up(Ringserve& up) {
    const fs::path endpoint = dir_.path() + "/var/endpoint";
    auto deadline = Clock::now() + std::chrono::seconds(120);
    while (!fs::exists(endpoint) && up.running() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return fs::exists(endpoint);
  }
  std::string var(const std::string& name) const { return dir_.path() + "/var/" + name; }
  rs::store::RedisOptions redis_as(const std::string& user) const {
    auto o = rs::store::parse_redis_address(trimmed(read_file(var("redis"))));
    EXPECT_TRUE(o.ok());
    rs::store::RedisOptions r = o.ok() ? *o : rs::store::RedisOptions{};
    if (!user.empty()) {
      r.user = user;
      r.password = trimmed(read_file(var("keys/redis-" + user + ".password")));
    }
    return r;
  }
  static std::string reply_error(rs::store::RedisConnection& c, const rs::store::RedisCommand& cmd) {
    auto r = c.command(cmd);
    if (!r.ok()) return r.status().to_string();
    return r->is_error() ? r->str : "";
  }
  rs::test::TempDir dir_{"rs-up-acl"};
};

TEST_F(UpAclTest, RedisRunsWithPrivateUsersAndReusesTheirPasswords) {
  std::map<std::string, std::string> passwords;
  {
    Ringserve up(dir_.path(), {"up", "--workers", "1", "--devices", "1", "--no-gateway"});
    ASSERT_TRUE(wait_up(up)) << up.logs();
    const auto owner_rw = fs::perms::owner_read | fs::perms::owner_write;
    EXPECT_EQ(fs::status(var("redis.acl")).permissions() & fs::perms::all, owner_rw);
    EXPECT_EQ(fs::status(var("keys")).permissions() & fs::perms::all, fs::perms::owner_all);
    const std::string acl = read_file(var("redis.acl"));
    EXPECT_EQ(acl.rfind("user default on #", 0), 0u) << acl;  // a password nobody has
    EXPECT_EQ(acl.find("nopass"), std::string::npos) << acl;
    for (const char* role : {"broker", "worker", "gateway", "cli"}) {
      const std::string file = var(std::string("keys/redis-") + role + ".password");
      ASSERT_TRUE(fs::exists(file)) << file;
      EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, owner_rw) << file;
      passwords[role] = trimmed(read_file(file));
      EXPECT_EQ(passwords[role].size(), 64u);
      EXPECT_EQ(acl.find(passwords[role]), std::string::npos) << "a password in clear in redis.acl";
      EXPECT_NE(acl.find(std::string("\nuser ") + role + " on #"), std::string::npos) << acl;
    }
    EXPECT_NE(read_file(dir_.path() + "/var/log/broker.log").size(), 0u);

    rs::store::RedisConnection anonymous(redis_as(""));
    EXPECT_EQ(reply_error(anonymous, {"GET", "rs:models:epoch"}).rfind("NOAUTH", 0), 0u);
    rs::store::RedisConnection worker(redis_as("worker"));
    ASSERT_TRUE(worker.connect().ok());
    EXPECT_EQ(reply_error(worker, {"GET", "rs:models:epoch"}), "");
    EXPECT_EQ(reply_error(worker, {"FLUSHALL"}).rfind("NOPERM", 0), 0u);
    EXPECT_EQ(reply_error(worker, {"CONFIG", "SET", "appendonly", "no"}).rfind("NOPERM", 0), 0u);
    EXPECT_EQ(reply_error(worker, {"HGETALL", "rs:job:x"}).rfind("NOPERM", 0), 0u);
    rs::store::RedisConnection gateway(redis_as("gateway"));
    EXPECT_EQ(reply_error(gateway, {"HGETALL", "rs:apikeys"}), "");
    EXPECT_EQ(reply_error(gateway, {"HSET", "rs:apikeys", "a", "b"}).rfind("NOPERM", 0), 0u);
    rs::store::RedisConnection cli(redis_as("cli"));
    EXPECT_EQ(reply_error(cli, {"XRANGE", "rs:tokens:x", "-", "+"}).rfind("NOPERM", 0), 0u);
    EXPECT_EQ(reply_error(cli, {"FLUSHDB"}).rfind("NOPERM", 0), 0u);

    // The CLI finds the `cli` user of ./var by itself.
    Ringserve keys(dir_.path(), {"keys", "add", "acme", "--json"}, "keys");
    EXPECT_EQ(keys.wait_exit(30000), 0) << keys.out() << keys.err();
    Ringserve list(dir_.path(), {"keys", "list", "--json"}, "list");
    EXPECT_EQ(list.wait_exit(30000), 0) << list.out() << list.err();
    EXPECT_NE(list.out().find("acme"), std::string::npos) << list.out();

    ASSERT_EQ(::kill(up.pid(), SIGINT), 0);
    EXPECT_EQ(up.wait_exit(60000), 0) << up.logs();
  }
  {
    Ringserve up(dir_.path(), {"up", "--workers", "1", "--devices", "1", "--no-gateway"}, "up2");
    ASSERT_TRUE(wait_up(up)) << up.logs();
    for (const auto& [role, password] : passwords) {
      EXPECT_EQ(trimmed(read_file(var("keys/redis-" + role + ".password"))), password) << role;
    }
    Ringserve submit(dir_.path(), {"submit", "--wait", "--json", "--max-tokens", "4", "hello"}, "submit");
    EXPECT_EQ(submit.wait_exit(60000), 0) << submit.out() << submit.err() << up.logs();
    Ringserve list(dir_.path(), {"keys", "list", "--json"}, "list2");
    EXPECT_EQ(list.wait_exit(30000), 0) << list.out() << list.err();
    EXPECT_NE(list.out().find("acme"), std::string::npos) << "the AOF and the cli password survived";
    ASSERT_EQ(::kill(up.pid(), SIGINT), 0);
    EXPECT_EQ(up.wait_exit(60000), 0) << up.logs();
  }
}

}  // namespace
