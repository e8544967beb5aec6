// The ACL users of ringserve (rs/store/redis_acl.h) and the credentials of RedisConnection
// (rs/store/redis_auth.h): address URLs and password files without a server; then, against
// a real redis-server started with the rendered aclfile, each role doing its job through the
// store classes, and refused (NOPERM / NOAUTH / WRONGPASS) everything else.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "redis_server.h"
#include "rs/store/api_keys.h"
#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"
#include "rs/store/model_registry.h"
#include "rs/store/redis_acl.h"
#include "rs/store/redis_auth.h"
#include "rs/store/redis_connection.h"
#include "rs/store/token_log.h"

namespace rs::store {
namespace {

TEST(RedisAddressTest, AcceptsHostPortAndUrls) {
  auto a = parse_redis_address("127.0.0.1:6380");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6380);
  EXPECT_TRUE(a->user.empty() && a->password.empty());

  auto u = parse_redis_address("redis://broker:p%40ss:w@redis.example:6381");
  ASSERT_TRUE(u.ok()) << u.status().to_string();
  EXPECT_EQ(u->user, "broker");
  EXPECT_EQ(u->password, "p@ss:w");
  EXPECT_EQ(u->host, "redis.example");
  EXPECT_EQ(u->port, 6381);

  auto p = parse_redis_address("redis://:secret@10.0.0.1:7000/");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->user, "");
  EXPECT_EQ(p->password, "secret");
  EXPECT_EQ(p->port, 7000);

  auto d = parse_redis_address("redis://h");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->host, "h");
  EXPECT_EQ(d->port, 6379);

  auto v6 = parse_redis_address("redis://u:p@[::1]");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6379);
}

TEST(RedisAddressTest, RefusesBadAddressesWithoutShowingThePassword) {
  for (const char* bad : {"redis://u:topsecret@h:port", "redis://u:topsecret@:1", "redis://u:%zz@h:1", "h:",
                          "h", "h:70000"}) {
    auto r = parse_redis_address(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().find("topsecret"), std::string::npos) << r.status().message();
  }
}

class PasswordFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_.file(name);
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  test::TempDir dir_{"rs-redis-pw"};
};

TEST_F(PasswordFileTest, ReadsTheFirstLineAndWarnsWhenOthersMayReadIt) {
  std::string warning;
  auto pw = read_password_file(write("a", "s3cret\r\nsecond line\n", 0600), &warning);
  ASSERT_TRUE(pw.ok());
  EXPECT_EQ(*pw, "s3cret");
  EXPECT_TRUE(warning.empty()) << warning;
  auto open = read_password_file(write("b", "x\n", 0644), &warning);
  ASSERT_TRUE(open.ok());
  EXPECT_NE(warning.find("readable by group or others"), std::string::npos);

  auto missing = read_password_file(dir_.file("nope"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir_.file("nope")), std::string::npos);
  EXPECT_EQ(read_password_file(write("c", "\nx\n", 0600)).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(PasswordFileTest, FlagsGiveUserAndPasswordOnce) {
  const std::string file = write("pw", "fromfile\n", 0600);
  auto o = redis_options_from({.address = "127.0.0.1:1", .user = "cli", .password_file = file});
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(o->user, "cli");
  EXPECT_EQ(o->password, "fromfile");
  auto url = redis_options_from({.address = "redis://gateway:x@127.0.0.1:1"});
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->user, "gateway");
  EXPECT_EQ(url->password, "x");
  EXPECT_EQ(redis_options_from({.address = "redis://:x@127.0.0.1:1", .password_file = file}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(redis_options_from({.address = "127.0.0.1:1", .user = "cli"}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(RedisAclRulesTest, NoRoleGetsAnAdministrativeCommandOrAllKeys) {
  for (RedisRole role : kRedisRoles) {
    auto rules = redis_acl_rules(role, "rs:");
    ASSERT_TRUE(rules.ok());
    SCOPED_TRACE(std::string(redis_role_name(role)) + ": " + *rules);
    EXPECT_EQ(rules->rfind("resetkeys resetchannels -@all ", 0), 0u);
    for (const char* word : {"+@", "+flushall", "+flushdb", "+config", "+keys", "+debug", "+shutdown", "+acl",
                             "+module", "+scan", "+script", "+function", "allkeys", "allchannels", "~*", "&*",
                             "allcommands", "nopass"}) {
      EXPECT_EQ((" " + *rules + " ").find(std::string(" ") + word + " "), std::string::npos) << word;
      EXPECT_EQ(rules->find(std::string(" ") + word + "*"), std::string::npos) << word;
    }
    std::string rest = *rules;
    for (size_t at = rest.find('~'); at != std::string::npos; at = rest.find('~', at + 1)) {
      EXPECT_EQ(rest.compare(at + 1, 3, "rs:"), 0) << rest.substr(at);
    }
  }
  EXPECT_NE(redis_acl_rules(RedisRole::kGateway, "a*b:")->find("%R~a\\*b:apikeys"), std::string::npos);
  EXPECT_FALSE(redis_acl_rules(RedisRole::kCli, "has space").ok());
  EXPECT_FALSE(redis_acl_rules(RedisRole::kCli, "").ok());
}

TEST(RedisAclRulesTest, TheFileDisablesDefaultAndKeepsOnlyHashes) {
  auto file = redis_acl_file({{RedisRole::kBroker, "pw-broker"}, {RedisRole::kWorker, "pw-worker"}}, "rs:");
  ASSERT_TRUE(file.ok());
  // `default`: a password nobody has, writes of the prefix only (for Redis's AOF replay).
  EXPECT_EQ(file->rfind("user default on #", 0), 0u);
  const std::string first = file->substr(0, file->find('\n'));
  EXPECT_NE(first.find(" -@all +@write -@dangerous ~rs:*"), std::string::npos) << first;
  EXPECT_EQ(first.find("nopass"), std::string::npos);
  EXPECT_NE(file->find("\nuser broker on #" + sha256_hex("pw-broker", 9) + " "), std::string::npos);
  EXPECT_NE(file->find("\nuser worker on #" + sha256_hex("pw-worker", 9) + " "), std::string::npos);
  EXPECT_EQ(file->find("pw-broker"), std::string::npos);
  auto a = random_redis_password();
  auto b = random_redis_password();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 64u);
  EXPECT_NE(*a, *b);
}

// One redis-server per suite, started with the aclfile of every role.
class RedisAclServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::RedisServer::available()) return;
    dir_ = std::make_unique<test::TempDir>("rs-redis-acl");
    std::vector<std::pair<RedisRole, std::string>> pw;
    for (RedisRole role : kRedisRoles) pw.emplace_back(role, "pw-" + std::string(redis_role_name(role)));
    auto file = redis_acl_file(pw, "rs:");
    if (!file.ok()) return;
    std::ofstream(dir_->file("redis.acl")) << *file;
    server_ = std::make_unique<test::RedisServer>();
    server_->set_extra_args({"--aclfile", dir_->file("redis.acl")});
    if (!server_->start()) server_.reset();
  }
  static void TearDownTestSuite() {
    server_.reset();
    dir_.reset();
  }
  void SetUp() override {
    if (!server_) {
      if (test::in_ci()) FAIL() << "redis-server not available (or refused the aclfile)";
      GTEST_SKIP() << "redis-server not available";
    }
  }
  static RedisOptions options(const std::string& user, const std::string& password) {
    RedisOptions o;
    o.port = server_->port();
    o.user = user;
    o.password = password;
    return o;
  }
  // A connected connection as `role`.
  static std::unique_ptr<RedisConnection> as(RedisRole role) {
    const std::string name(redis_role_name(role));
    auto c = std::make_unique<RedisConnection>(options(name, "pw-" + name));
    Status s = c->connect();
    EXPECT_TRUE(s.ok()) << s.to_string();
    return c;
  }
  // The command's error reply (or "" when it succeeded).
  static std::string refusal(RedisConnection& c, const RedisCommand& cmd) {
    auto r = c.command(cmd);
    if (!r.ok()) return "transport: " + r.status().to_string();
    return r->is_error() ? r->str : "";
  }
  static void expect_noperm(RedisConnection& c, const RedisCommand& cmd) {
    const std::string e = refusal(c, cmd);
    EXPECT_TRUE(e.rfind("NOPERM", 0) == 0 || e.find("The user executing the script can't") != std::string::npos)
        << cmd[0] << " " << (cmd.size() > 1 ? cmd[1] : "") << ": " << (e.empty() ? "allowed" : e);
  }
  static void expect_admin_refused(RedisConnection& c) {
    expect_noperm(c, {"FLUSHALL"});
    expect_noperm(c, {"FLUSHDB"});
    expect_noperm(c, {"CONFIG", "SET", "maxmemory", "1"});
    expect_noperm(c, {"CONFIG", "GET", "requirepass"});
    expect_noperm(c, {"KEYS", "*"});
    expect_noperm(c, {"SCAN", "0"});
    expect_noperm(c, {"ACL", "LIST"});
    // (DEBUG is refused before any ACL check: enable-debug-command is off by default.)
    expect_noperm(c, {"CLIENT", "LIST"});
    expect_noperm(c, {"INFO"});
    expect_noperm(c, {"MODULE", "LIST"});
    expect_noperm(c, {"SHUTDOWN", "NOSAVE"});
    expect_noperm(c, {"SCRIPT", "FLUSH"});
  }
  static inline std::unique_ptr<test::TempDir> dir_;
  static inline std::unique_ptr<test::RedisServer> server_;
};

TEST_F(RedisAclServerTest, TheDefaultUserGetsNoauth) {
  RedisConnection anonymous(options("", ""));
  ASSERT_TRUE(anonymous.connect().ok());
  auto r = anonymous.command({"GET", "rs:models:epoch"});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->is_error());
  EXPECT_EQ(r->str.rfind("NOAUTH", 0), 0u) << r->str;
  EXPECT_EQ(r->error_status("GET").code(), StatusCode::kPermissionDenied);
  Status check = check_redis_credentials(options("", ""));
  EXPECT_EQ(check.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(check.message().find("wants a password"), std::string::npos) << check.to_string();
  // Nobody has `default`'s password: AUTH default <anything> is refused.
  EXPECT_EQ(RedisConnection(options("default", "x")).connect().code(), StatusCode::kPermissionDenied);
}

TEST_F(RedisAclServerTest, AWrongPasswordIsAClearPermissionDenied) {
  RedisConnection c(options("worker", "not-the-password"));
  Status s = c.connect();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("WRONGPASS"), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("user 'worker'"), std::string::npos) << s.to_string();
  EXPECT_FALSE(c.connected());
  auto r = c.command({"PING"});  // every later call says why too (not just "unavailable")
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(check_redis_credentials(options("worker", "not-the-password")).code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(check_redis_credentials(options("worker", "pw-worker")).ok());
  // A password sent to a user Redis does not know is refused the same way.
  EXPECT_EQ(RedisConnection(options("nobody", "pw-worker")).connect().code(), StatusCode::kPermissionDenied);
}

TEST_F(RedisAclServerTest, TheCliManagesModelsKeysBatchesAndDeadLettersOnly) {
  auto cli = as(RedisRole::kCli);
  ModelRegistry reg(*cli);
  ModelVersion m;
  m.name = "acl-model";
  m.path = "/models/a.gguf";
  m.sha256 = std::string(64, 'a');
  auto v1 = reg.add_version(m);
  ASSERT_TRUE(v1.ok()) << v1.status().to_string();
  auto v2 = reg.add_version(m);
  ASSERT_TRUE(v2.ok()) << v2.status().to_string();
  ASSERT_TRUE(reg.activate("acl-model", *v1).ok());
  ASSERT_TRUE(reg.activate("acl-model", *v2, 10).ok());
  EXPECT_TRUE(reg.rollback("acl-model").ok());
  EXPECT_TRUE(reg.list_all().ok());
  ApiKeys keys(*cli);
  auto key = keys.add("acme");
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_TRUE(keys.list().ok());
  auto doomed = keys.add("gone");
  ASSERT_TRUE(doomed.ok());
  EXPECT_TRUE(keys.revoke(doomed->id).ok());
  IngestItem item;
  item.batch = "b1";
  item.item_id = "1";
  item.request.model = "acl-model";
  item.request.prompt = "hi";
  auto entry = IngestStream(*cli).append(item);
  EXPECT_TRUE(entry.ok()) << entry.status().to_string();
  BatchResults results(*cli);
  EXPECT_TRUE(results.ensure_group("b1", "pipeline").ok());
  EXPECT_TRUE(results.read("b1", "pipeline", "cli", 10, 0).ok());
  EXPECT_TRUE(results.length("b1").ok());
  EXPECT_TRUE(JobStore(*cli).dead_letters().ok());
  EXPECT_TRUE(cli->command({"HGETALL", "rs:job:x"})->is_array());  // jobs: read-only
  expect_noperm(*cli, {"HSET", "rs:job:x", "state", "SUCCEEDED"});
  expect_noperm(*cli, {"DEL", "rs:job:x"});
  expect_noperm(*cli, {"XRANGE", "rs:tokens:x", "-", "+"});
  expect_noperm(*cli, {"GET", "rs:idem:x"});
  expect_noperm(*cli, {"ZRANGE", "rs:live", "0", "-1"});
  expect_admin_refused(*cli);
}

TEST_F(RedisAclServerTest, TheBrokerRunsJobsAndOnlyReadsTheRegistry) {
  auto broker = as(RedisRole::kBroker);
  JobStore jobs(*broker);
  schemas::JobRecord rec;
  rec.job_id = "acl-job-1";
  rec.model = "acl-model";
  schemas::SubmitRequest req;
  req.model = "acl-model";
  req.prompt = "hello";
  req.idempotency_key = "acl-idem";
  auto created = jobs.create(rec, req);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  ASSERT_TRUE(broker->command(jobs.live_add_command("acl-job-1", 1))->is_integer());
  ASSERT_TRUE(jobs.transition("acl-job-1", {.to = schemas::JobState::kDispatched, .attempt = 1, .worker = "w1",
                                            .device = 0})
                  .ok());
  TokenLog log(*broker);
  auto appended = log.append({{.job_id = "acl-job-1", .attempt = 1, .seq = 0, .token = 7, .text = "x"}});
  ASSERT_TRUE(appended.ok()) << appended.status().to_string();
  ASSERT_TRUE(log.finish("acl-job-1", schemas::JobState::kSucceeded, 1).ok());
  ASSERT_TRUE(log.read("acl-job-1", 0).ok());
  ASSERT_TRUE(jobs.transition("acl-job-1", {.to = schemas::JobState::kSucceeded, .attempt = 1}).ok());
  ASSERT_TRUE(jobs.push_dead_letter("acl-job-1").ok());
  auto discarded = broker->command(jobs.discard_command("acl-job-0", "acl-idem-0"));
  ASSERT_TRUE(discarded.ok());
  EXPECT_FALSE(discarded->is_error()) << discarded->str;
  auto loaded = jobs.load("acl-job-1");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->state, schemas::JobState::kSucceeded);
  IngestOptions io;
  io.consumer = "b1";
  IngestStream ingest(*broker, io);
  ASSERT_TRUE(ingest.ensure_group().ok());
  EXPECT_TRUE(ingest.read(10).ok());
  EXPECT_TRUE(ingest.read_own_pending("0", 10).ok());
  EXPECT_TRUE(ingest.claim_stale(60000, 10).ok());
  EXPECT_TRUE(ingest.pending().ok());
  EXPECT_TRUE(ingest.trim_acknowledged().ok());
  BatchResult result;
  result.batch = "b1";
  result.item_id = "1";
  result.record = *loaded;
  EXPECT_FALSE(broker->command(BatchResults(*broker).append_command(result))->is_error());
  ModelRegistry reg(*broker);
  EXPECT_TRUE(reg.epoch().ok());
  EXPECT_TRUE(reg.list_all().ok());
  EXPECT_TRUE(reg.routing_all().ok());
  ModelVersion m;
  m.name = "by-broker";
  m.path = "/x.gguf";
  EXPECT_EQ(reg.add_version(m).status().code(), StatusCode::kPermissionDenied);
  expect_noperm(*broker, {"HGETALL", "rs:apikeys"});
  expect_noperm(*broker, {"SET", "rs:models:epoch", "0"});
  expect_noperm(*broker, {"GET", "other:key"});
  expect_admin_refused(*broker);
}

TEST_F(RedisAclServerTest, TheWorkerReadsTheRegistryAndNothingElse) {
  auto cli = as(RedisRole::kCli);
  ModelRegistry setup(*cli);
  ModelVersion m;
  m.name = "worker-model";
  m.path = "/models/w.gguf";
  m.sha256 = std::string(64, 'b');
  auto v = setup.add_version(m);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(setup.activate("worker-model", *v).ok());
  ASSERT_TRUE(as(RedisRole::kBroker)->command({"HSET", "rs:job:secret", "request", "x"})->is_integer());

  auto worker = as(RedisRole::kWorker);
  ModelRegistry reg(*worker);
  EXPECT_TRUE(reg.epoch().ok());
  auto routing = reg.routing_all();
  ASSERT_TRUE(routing.ok()) << routing.status().to_string();
  auto got = reg.get("worker-model", *v);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  Status set_error = reg.set_error("worker-model", *v, "checksum mismatch");
  EXPECT_TRUE(set_error.ok()) << set_error.to_string();
  auto sub = as(RedisRole::kWorker);
  auto subscribed = sub->command({"SUBSCRIBE", "rs:models:events"});
  ASSERT_TRUE(subscribed.ok());
  EXPECT_TRUE(subscribed->is_array()) << subscribed->str;
  expect_noperm(*as(RedisRole::kWorker), {"SUBSCRIBE", "rs:other"});

  expect_noperm(*worker, {"HGETALL", "rs:job:secret"});
  expect_noperm(*worker, {"HGET", "rs:job:secret", "request"});
  expect_noperm(*worker, {"GET", "rs:idem:x"});
  expect_noperm(*worker, {"XRANGE", "rs:tokens:x", "-", "+"});
  expect_noperm(*worker, {"XADD", "rs:ingest", "*", "model", "m", "prompt", "p"});
  expect_noperm(*worker, {"HGETALL", "rs:apikeys"});
  expect_noperm(*worker, {"LRANGE", "rs:dead", "0", "-1"});
  expect_noperm(*worker, {"EVAL", "return redis.call('HGETALL', 'rs:job:secret')", "0"});
  expect_noperm(*worker, {"DEL", "rs:models:names"});
  expect_admin_refused(*worker);
}

TEST_F(RedisAclServerTest, TheGatewayOnlyReadsApiKeys) {
  auto key = ApiKeys(*as(RedisRole::kCli)).add("tenant-g");
  ASSERT_TRUE(key.ok());
  auto gateway = as(RedisRole::kGateway);
  ApiKeys keys(*gateway);
  auto version = keys.version();
  ASSERT_TRUE(version.ok()) << version.status().to_string();
  EXPECT_GT(*version, 0u);
  auto table = keys.load_all();
  ASSERT_TRUE(table.ok()) << table.status().to_string();
  EXPECT_EQ(table->count(api_key_hash(key->key)), 1u);
  EXPECT_EQ(keys.add("evil").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(keys.revoke(key->id).code(), StatusCode::kPermissionDenied);
  expect_noperm(*gateway, {"HSET", "rs:apikeys", "x", "y"});
  expect_noperm(*gateway, {"HGETALL", "rs:apikeys:ids"});
  expect_noperm(*gateway, {"HGETALL", "rs:job:x"});
  expect_noperm(*gateway, {"GET", "rs:models:epoch"});
  expect_admin_refused(*gateway);
}

// Redis 7.0 replays its AOF as `default`, re-checking EXEC: script effects (logged as
// MULTI/EXEC) must survive a restart with the aclfile (they did not with `default` off).
TEST(RedisAclAofTest, ScriptWritesSurviveARestart) {
  if (!test::RedisServer::available()) {
    if (test::in_ci()) FAIL() << "redis-server not available";
    GTEST_SKIP() << "redis-server not available";
  }
  test::TempDir dir("rs-redis-acl-aof");
  auto file = redis_acl_file({{RedisRole::kBroker, "pb"}, {RedisRole::kCli, "pc"}}, "rs:");
  ASSERT_TRUE(file.ok());
  std::ofstream(dir.file("redis.acl")) << *file;
  test::RedisServer server;
  server.set_aof(true);
  server.set_extra_args({"--aclfile", dir.file("redis.acl")});
  server.set_ready_auth("broker", "pb");  // a restart is up only once its AOF is loaded
  ASSERT_TRUE(server.start());
  RedisOptions o;
  o.port = server.port();
  o.user = "cli";
  o.password = "pc";
  RedisConnection cli(o);
  auto key = ApiKeys(cli).add("kept");
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  IngestItem item;
  item.request.model = "m";
  item.request.prompt = "p";
  ASSERT_TRUE(IngestStream(cli).append(item).ok());
  o.user = "broker";
  o.password = "pb";
  RedisConnection broker(o);
  JobStore jobs(broker);
  schemas::JobRecord rec;
  rec.job_id = "aof-job";
  rec.model = "m";
  schemas::SubmitRequest req;
  req.idempotency_key = "aof-idem";
  ASSERT_TRUE(jobs.create(rec, req).ok());
  ASSERT_TRUE(jobs.transition("aof-job", {.to = schemas::JobState::kDispatched, .attempt = 1}).ok());
  IngestStream ingest(broker);
  ASSERT_TRUE(ingest.ensure_group().ok());
  auto read = ingest.read(10);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 1u);

  ASSERT_TRUE(server.restart());  // kill -9; the AOF (fsync always) is all there is
  RedisConnection after(o);
  auto loaded = JobStore(after).load("aof-job");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->state, schemas::JobState::kDispatched);
  auto idem = JobStore(after).find_idempotent("aof-idem");
  ASSERT_TRUE(idem.ok());
  EXPECT_EQ(idem->value_or(""), "aof-job");
  auto pending = IngestStream(after).pending();  // XREADGROUP's delivery, replayed too
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, 1u);
  o.user = "cli";
  o.password = "pc";
  RedisConnection cli_after(o);
  auto keys = ApiKeys(cli_after).list();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].tenant, "kept");
}

}  // namespace
}  // namespace rs::store
