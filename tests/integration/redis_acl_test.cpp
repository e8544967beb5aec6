// The programs against a Redis with ringserve's ACL users (rs/store/redis_acl.h): a wrong,
// missing or unreadable password stops ringserve-broker, -worker and -gateway at startup
// with a clear error (not an endless "unavailable"); with the right users a pool of real
// processes (broker `broker`, registry-mode workers `worker`, `ringserve models` as `cli`)
// serves a job end to end.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "model_versions.h"
#include "process_harness.h"
#include "rs/store/job_store.h"
#include "rs/store/redis_acl.h"
#include "rs/store/redis_connection.h"

namespace rs::test {
namespace {

class RedisAclPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::pair<store::RedisRole, std::string>> pw;
    for (store::RedisRole role : store::kRedisRoles) {
      const std::string name(store::redis_role_name(role));
      pw.emplace_back(role, "pw-" + name + "-0123456789");
      write_private(password_file(name), pw.back().second + "\n");
    }
    write_private(password_file("wrong"), "not-the-password\n");
    auto acl = store::redis_acl_file(pw, "rs:");
    ASSERT_TRUE(acl.ok());
    write_private(files_.file("redis.acl"), *acl);
  }
  std::string password_file(const std::string& role) const { return files_.file("redis-" + role + ".password"); }
  static void write_private(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0600);
  }
  std::vector<std::string> creds(const std::string& user, const std::string& file_role) const {
    return {"--redis-user", user, "--redis-password-file", password_file(file_role)};
  }
  // Runs argv to its exit (at most 20 s); its exit code, stderr in *err.
  int run_to_exit(std::vector<std::string> argv, const std::string& log, std::string* err) {
    ChildProcess p;
    if (!p.start(argv, files_.file(log))) return -1000;
    p.read_all(20000);
    if (!p.wait_exit(2000)) {
      p.kill_hard();
      *err = file_tail(files_.file(log));
      return -1001;
    }
    *err = file_tail(files_.file(log));
    return p.exit_code();
  }
  TempDir files_{"rs-acl-files"};
};

TEST_F(RedisAclPoolTest, WrongOrMissingCredentialsStopTheProgramsAtStartup) {
  Pool pool;
  RS_REQUIRE_POOL(pool);
  pool.redis_server().set_extra_args({"--aclfile", files_.file("redis.acl")});
  ASSERT_TRUE(pool.start_redis());
  const std::vector<std::string> broker = {program("ringserve-broker"), "--redis", pool.redis_address(),
                                           "--client-endpoint", "tcp://127.0.0.1:*", "--worker-endpoint",
                                           "tcp://127.0.0.1:*"};
  std::string err;
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  EXPECT_EQ(run_to_exit(with(broker, creds("broker", "wrong")), "b1.log", &err), 1) << err;
  EXPECT_NE(err.find("permission_denied"), std::string::npos) << err;
  EXPECT_NE(err.find("WRONGPASS"), std::string::npos) << err;
  EXPECT_NE(err.find("user 'broker'"), std::string::npos) << err;

  EXPECT_EQ(run_to_exit(broker, "b2.log", &err), 1) << err;  // no credentials at all
  EXPECT_NE(err.find("NOAUTH"), std::string::npos) << err;
  EXPECT_NE(err.find("--redis-password-file"), std::string::npos) << err;

  EXPECT_NE(run_to_exit(with(broker, {"--redis-user", "broker", "--redis-password-file", files_.file("nope")}),
                        "b3.log", &err),
            0);
  EXPECT_NE(err.find(files_.file("nope")), std::string::npos) << err;

  // The URL form, with a wrong password: refused the same way, and the password not echoed.
  EXPECT_EQ(run_to_exit({program("ringserve-broker"), "--redis",
                         "redis://broker:hunter2@" + pool.redis_address(), "--client-endpoint",
                         "tcp://127.0.0.1:*", "--worker-endpoint", "tcp://127.0.0.1:*"},
                        "b4.log", &err),
            1)
      << err;
  EXPECT_NE(err.find("WRONGPASS"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;

  EXPECT_EQ(run_to_exit(with({program("ringserve-worker"), "--broker", "tcp://127.0.0.1:1", "--redis",
                              pool.redis_address(), "--serve", "tiny"},
                             creds("worker", "wrong")),
                        "w.log", &err),
            1)
      << err;
  EXPECT_NE(err.find("WRONGPASS"), std::string::npos) << err;

  EXPECT_EQ(run_to_exit(with({program("ringserve-gateway"), "--broker", "tcp://127.0.0.1:1", "--redis",
                              pool.redis_address()},
                             creds("gateway", "wrong")),
                        "g.log", &err),
            1)
      << err;
  EXPECT_NE(err.find("WRONGPASS"), std::string::npos) << err;

  // A role's password is not another's: the worker's password as user broker fails too.
  EXPECT_EQ(run_to_exit(with(broker, creds("broker", "worker")), "b5.log", &err), 1) << err;
}

TEST_F(RedisAclPoolTest, APoolOfAclUsersServesAJobEndToEnd) {
  PoolOptions o;
  o.workers = 1;
  o.devices = 1;
  o.registry = true;
  o.serve = {"tiny"};
  o.broker_args = creds("broker", "broker");
  o.worker_args = creds("worker", "worker");
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  pool.redis_server().set_extra_args({"--aclfile", files_.file("redis.acl")});
  ASSERT_TRUE(pool.start_redis());
  std::vector<std::string> add = {"models", "add", "tiny", synthetic_model(), "--activate", "--json"};
  const std::vector<std::string> cli = creds("cli", "cli");
  add.insert(add.end(), cli.begin(), cli.end());
  CliRun added = run_cli(pool, add);
  ASSERT_EQ(added.exit_code, 0) << added.out << file_tail(pool.dir().file("cli.log"));
  ASSERT_TRUE(pool.start_broker() && pool.start_workers()) << "pool did not start";

  auto c = pool.connect();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto accepted = (*c)->submit(make_request("tiny", "hello acl", 8));
  ASSERT_TRUE(accepted.ok()) << accepted.status().to_string();
  FinishedJob job = wait_job(**c, accepted->job_id);
  ASSERT_TRUE(job.status.ok()) << job.status.to_string();
  EXPECT_EQ(job.record.state, schemas::JobState::kSucceeded);
  EXPECT_EQ(job.tokens.size(), 8u);

  // The job is in Redis, as the broker's user sees it; the worker's user may not read it.
  store::RedisOptions ro;
  ro.port = pool.redis_server().port();
  ro.user = "broker";
  ro.password = "pw-broker-0123456789";
  store::RedisConnection as_broker(ro);
  auto stored = store::JobStore(as_broker).load(accepted->job_id);
  ASSERT_TRUE(stored.ok()) << stored.status().to_string();
  EXPECT_EQ(stored->state, schemas::JobState::kSucceeded);
  ro.user = "worker";
  ro.password = "pw-worker-0123456789";
  store::RedisConnection as_worker(ro);
  auto denied = store::JobStore(as_worker).load(accepted->job_id);
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied) << denied.status().to_string();

  // `ringserve models list` as cli works; with a wrong password it says why.
  std::vector<std::string> list = {"models", "list", "--json"};
  list.insert(list.end(), cli.begin(), cli.end());
  EXPECT_EQ(run_cli(pool, list).exit_code, 0);
  std::vector<std::string> wrong = {"models", "list"};
  const std::vector<std::string> bad = creds("cli", "wrong");
  wrong.insert(wrong.end(), bad.begin(), bad.end());
  CliRun refused = run_cli(pool, wrong);
  EXPECT_EQ(refused.exit_code, 1);
  const std::string log = file_tail(pool.dir().file("cli.log"));
  EXPECT_NE(log.find("permission_denied"), std::string::npos) << log;
}

}  // namespace
}  // namespace rs::test
