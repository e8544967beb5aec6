#include <chrono>
#include <thread>

#include "store_fixture.h"

namespace rs::store {
namespace {

using ConnectionTest = StoreTest;

TEST_F(ConnectionTest, CommandsAreBinarySafe) {
  std::string key = prefix_ + "bin";
  std::string value("a\0b\r\n$3\xff", 8);
  auto set = conn_->command({"SET", key, value});
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  EXPECT_TRUE(set->is_string());
  EXPECT_EQ(set->str, "OK");
  auto get = conn_->command({"GET", key});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->str, value);
  auto missing = conn_->command({"GET", key + "nope"});
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->is_nil());
}

TEST_F(ConnectionTest, ErrorReplyIsNotATransportError) {
  auto r = conn_->command({"NOSUCHCOMMAND"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_error());
  EXPECT_FALSE(r->error_status("x").ok());
  // The connection still works.
  auto p = conn_->command({"PING"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->str, "PONG");
}

TEST_F(ConnectionTest, PipelineOfManyCommandsInOrder) {
  std::vector<RedisCommand> cmds;
  for (int i = 0; i < 2000; ++i) cmds.push_back({"RPUSH", prefix_ + "list", std::to_string(i)});
  cmds.push_back({"LLEN", prefix_ + "list"});
  auto replies = conn_->pipeline(cmds);
  ASSERT_TRUE(replies.ok()) << replies.status().to_string();
  ASSERT_EQ(replies->size(), cmds.size());
  for (int i = 0; i < 2000; ++i) EXPECT_EQ((*replies)[i].integer, i + 1);
  EXPECT_EQ(replies->back().integer, 2000);
  auto empty = conn_->pipeline({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(ConnectionTest, NothingListeningIsUnavailableQuickly) {
  RedisOptions o;
  o.port = 1;  // nothing listens on port 1
  RedisConnection c(o);
  auto t0 = std::chrono::steady_clock::now();
  Status s = c.connect();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("127.0.0.1:1"), std::string::npos) << s.message();
  auto r = c.command({"PING"});
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST_F(ConnectionTest, RedisDownThenRecovers) {
  ASSERT_TRUE(conn_->command({"SET", prefix_ + "k", "v"}).ok());
  server_->stop();
  auto r = conn_->command({"GET", prefix_ + "k"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  auto p = conn_->pipeline({{"PING"}, {"PING"}});
  EXPECT_EQ(p.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(conn_->connected());
  ASSERT_TRUE(server_->start());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past reconnect_interval_ms
  auto again = conn_->command({"PING"});
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->str, "PONG");
  EXPECT_GE(conn_->reconnects(), 1u);
}

// A stalled Redis (SIGSTOP) with patience: the timeout is reported once and the replies
// are awaited on the same connection, so the batch runs exactly once after SIGCONT. (Sent
// again on a new connection, the stalled copy would run too: INCR would say 2.)
TEST_F(ConnectionTest, WithPatienceAStalledPipelineIsAwaitedNotSentTwice) {
  RedisOptions o;
  o.port = server_->port();
  o.command_timeout_ms = 100;
  RedisConnection conn(o);
  ASSERT_TRUE(conn.connect().ok());
  const std::string key = prefix_ + "counter";
  int stalls = 0;
  PipelinePatience patience{.patience_ms = 20000,
                            .on_stall = [&](const Status&) { ++stalls; },
                            .should_stop = [] { return false; }};
  server_->pause();
  std::thread resume([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    server_->resume();
  });
  auto replies = conn.pipeline({{"INCR", key}, {"GET", key}}, &patience);
  resume.join();
  ASSERT_TRUE(replies.ok()) << replies.status().to_string();
  EXPECT_EQ(stalls, 1);
  EXPECT_EQ((*replies)[0].integer, 1);
  EXPECT_EQ((*replies)[1].str, "1");
  EXPECT_EQ(conn.reconnects(), 0u) << "the batch went on a second connection";
  // Without patience the same stall is a failure (the caller decides what to do).
  server_->pause();
  auto failed = conn.pipeline({{"INCR", key}});
  server_->resume();
  EXPECT_FALSE(failed.ok());
}

}  // namespace
}  // namespace rs::store
