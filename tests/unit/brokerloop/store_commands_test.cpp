// StoreCommands against a real redis-server: every typed write BrokerState stages becomes
// the commands it means, the replies come back one result per write and read, and a
// batch applied a second time (the StoreWriter resends a batch whose reply was lost)
// leaves the store as it was and still reads as applied.
#include "rs/broker/loop/store_commands.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "redis_server.h"
#include "rs/store/redis_connection.h"

namespace store_commands_test {
namespace {

using namespace rs::broker;  // NOLINT(google-build-using-namespace): test brevity
namespace sc = rs::schemas;
namespace store = rs::store;

sc::JobRecord record(const std::string& id) {
  return sc::JobRecord{.job_id = id, .model = "m", .created_ms = 1000};
}

sc::SubmitRequest request(const std::string& key = {}) {
  return sc::SubmitRequest{.model = "m", .prompt = "hi", .max_tokens = 3, .idempotency_key = key};
}

StoreBatch batch() {
  StoreBatch b;
  b.writes.push_back(AddLive{.job = "j1", .created_ms = 1000});
  b.writes.push_back(CreateJob{.record = record("j1"), .request = request()});
  b.writes.push_back(AddLive{.job = "j2", .created_ms = 1000});
  b.writes.push_back(CreateJob{.record = record("j2"), .request = request("key-2")});
  b.writes.push_back(SetJob{
      .job = "j1",
      .changes = {JobChange{.transition = sc::JobTransition{.to = sc::JobState::kDispatched,
                                                            .attempt = 1, .worker = "w",
                                                            .device = 0, .at_ms = 1001},
                            .model_version = 2},
                  JobChange{.transition = sc::JobTransition{.to = sc::JobState::kRunning,
                                                            .at_ms = 1002}},
                  JobChange{.transition = sc::JobTransition{.to = sc::JobState::kSucceeded,
                                                            .at_ms = 1003,
                                                            .usage = sc::Usage{.completion_tokens = 3},
                                                            .finish_reason = "length"}}}});
  std::vector<sc::TokenEntry> tokens;
  for (uint64_t s = 0; s < 3; ++s) {
    tokens.push_back(sc::TokenEntry{.job_id = "j1", .attempt = 1, .seq = s,
                                    .token = static_cast<int32_t>(10 + s), .text = "t"});
  }
  b.writes.push_back(AppendTokens{.entries = tokens});
  b.writes.push_back(FinishLog{.job = "j1", .state = sc::JobState::kSucceeded, .n_tokens = 3});
  b.writes.push_back(RemoveLive{.job = "j1"});
  b.writes.push_back(DeadLetter{.job = "j2"});
  b.reads.push_back(LoadRecord{.job = "j1"});
  b.reads.push_back(ReadTokens{.job = "j1", .from_seq = 1});
  b.reads.push_back(LoadRecord{.job = "nope"});
  // A plain create with the job's DISPATCHED of the same turn: one HSET.
  b.writes.push_back(CreateJob{
      .record = record("j4"), .request = request(),
      .changes = {JobChange{.transition = sc::JobTransition{.to = sc::JobState::kDispatched,
                                                            .attempt = 1, .worker = "w2",
                                                            .device = 1, .at_ms = 1001}}}});
  b.reads.push_back(LoadRecord{.job = "j4"});
  return b;
}

TEST(StoreCommandsTest, TypedWritesApplyOnceEvenWhenABatchIsAppliedTwice) {
  RS_REQUIRE_REDIS();
  rs::test::RedisServer redis;
  ASSERT_TRUE(redis.start());
  store::RedisConnection conn(store::RedisOptions{.port = redis.port()});
  ASSERT_TRUE(conn.connect().ok());
  StoreCommands commands(conn, "rs:", /*finished_ttl_s=*/0);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    StoreLayout layout;
    std::vector<store::RedisCommand> cmds = commands.build(batch(), layout);
    ASSERT_EQ(layout.writes.size(), 10u);
    ASSERT_EQ(layout.reads.size(), 4u);
    size_t j4 = 0;  // the command of j4's create
    for (size_t i = 0; i + 1 < layout.writes.size(); ++i) j4 += layout.writes[i].n_commands;
    EXPECT_EQ(layout.writes.back().n_commands, 1u);
    EXPECT_EQ(cmds[j4].front(), "HSET") << "j4: created and dispatched in one HSET";
    auto replies = conn.pipeline(cmds);
    ASSERT_TRUE(replies.ok()) << replies.status().to_string();
    BatchReplies r = StoreCommands::parse(layout, *replies);
    ASSERT_EQ(r.writes.size(), 10u);
    for (const WriteResult& w : r.writes) EXPECT_TRUE(w.status.ok()) << w.status.to_string();
    EXPECT_TRUE(r.writes[1].create.created);
    EXPECT_EQ(r.writes[1].create.job_id, "j1");
    EXPECT_TRUE(r.writes[3].create.created) << "a keyed create applied again is still its job";
    EXPECT_EQ(r.writes[3].create.job_id, "j2");
    EXPECT_EQ(r.writes[5].duplicates != 0, round == 1) << "the tokens were there already";
    ASSERT_EQ(r.reads.size(), 4u);
    ASSERT_TRUE(r.reads[0].record.ok()) << r.reads[0].record.status().to_string();
    const sc::JobRecord& j1 = *r.reads[0].record;
    EXPECT_EQ(j1.state, sc::JobState::kSucceeded);
    EXPECT_EQ(j1.attempt, 1u);
    EXPECT_EQ(j1.worker, "w");
    EXPECT_EQ(j1.model_version, 2u);
    EXPECT_EQ(j1.usage.completion_tokens, 3u);
    EXPECT_EQ(j1.finish_reason, "length");
    ASSERT_TRUE(r.reads[1].log.ok()) << r.reads[1].log.status().to_string();
    ASSERT_EQ(r.reads[1].log->entries.size(), 2u);
    EXPECT_EQ(r.reads[1].log->entries[0].seq, 1u);
    EXPECT_EQ(r.reads[1].log->entries[1].token, 12);
    EXPECT_TRUE(r.reads[1].log->finished);
    EXPECT_EQ(r.reads[1].log->n_tokens, 3u);
    EXPECT_EQ(r.reads[2].record.status().code(), rs::StatusCode::kNotFound);
    ASSERT_TRUE(r.reads[3].record.ok());
    EXPECT_EQ(r.reads[3].record->state, sc::JobState::kDispatched);
    EXPECT_EQ(r.reads[3].record->worker, "w2");
    EXPECT_EQ(r.reads[3].record->device, 1);
    EXPECT_EQ(r.reads[3].record->attempt, 1u);
  }
  auto live = conn.command({"ZRANGE", "rs:live", "0", "-1"});
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->elements.size(), 1u);
  EXPECT_EQ(live->elements[0].str, "j2");
  auto dead = conn.command({"LLEN", "rs:dead"});
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(dead->integer, 1) << "dead-lettered once";
  // Another job under j2's key: a resubmission, nothing written.
  StoreBatch again;
  again.writes.push_back(CreateJob{.record = record("j3"), .request = request("key-2")});
  StoreLayout layout;
  auto replies = conn.pipeline(commands.build(std::move(again), layout));
  ASSERT_TRUE(replies.ok());
  BatchReplies r = StoreCommands::parse(layout, *replies);
  ASSERT_EQ(r.writes.size(), 1u);
  EXPECT_FALSE(r.writes[0].create.created);
  EXPECT_EQ(r.writes[0].create.job_id, "j2");
  // A batch whose replies are missing (the connection broke) reads as not applied.
  StoreLayout lost;
  (void)commands.build(batch(), lost);
  BatchReplies none = StoreCommands::parse(lost, {});
  ASSERT_EQ(none.writes.size(), 10u);
  EXPECT_FALSE(none.writes[1].status.ok());
  EXPECT_FALSE(none.reads[0].record.ok());
}

}  // namespace
}  // namespace store_commands_test
