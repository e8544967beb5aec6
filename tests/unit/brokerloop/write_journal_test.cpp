// WriteJournal (the broker's file of write batches held while Redis fails): batches
// appended are read back in order after a reopen, clear() empties the file, a torn or
// corrupt tail is cut off (the complete batches before it are kept), and the replay form of
// a batch result's XADD adds it once however often it is applied (real redis-server).
#include "rs/broker/loop/write_journal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "redis_server.h"

namespace rs::broker::testing {
namespace journal_test {

namespace fs = std::filesystem;

JournalBatch batch_of(int n) {
  JournalBatch b;
  for (int i = 0; i < n; ++i) {
    b.push_back({"XADD", "rs:tokens:j" + std::to_string(n), std::to_string(i) + "-1", "t",
                 std::string("bytes\0with nul", 14), ""});
  }
  b.push_back({"HSET", "rs:job:j", "state", "RUNNING"});
  return b;
}

std::vector<JournalBatch> reopen(const std::string& path, uint64_t* skipped = nullptr) {
  WriteJournal j(path);
  auto r = j.open();
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (skipped != nullptr) *skipped = j.skipped_bytes();
  return r.ok() ? *r : std::vector<JournalBatch>{};
}

TEST(WriteJournalTest, AppendedBatchesAreReadBackInOrderAndClearEmptiesTheFile) {
  rs::test::TempDir dir("rs-journal");
  const std::string path = dir.file("broker.journal");
  {
    WriteJournal j(path);
    auto r = j.open();
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_TRUE(r->empty());
    for (int n = 1; n <= 3; ++n) ASSERT_TRUE(j.append(batch_of(n)).ok());
    EXPECT_EQ(j.size_bytes(), fs::file_size(path));
  }
  std::vector<JournalBatch> back = reopen(path);
  ASSERT_EQ(back.size(), 3u);
  for (int n = 1; n <= 3; ++n) EXPECT_EQ(back[n - 1], batch_of(n));
  {
    WriteJournal j(path);
    ASSERT_TRUE(j.open().ok());
    ASSERT_TRUE(j.clear().ok());
    EXPECT_EQ(fs::file_size(path), 0u);
    ASSERT_TRUE(j.append(batch_of(4)).ok());  // appends after a clear start at 0
  }
  back = reopen(path);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], batch_of(4));
}

TEST(WriteJournalTest, ATornTailIsCutOffAndTheCompleteBatchesBeforeItAreKept) {
  rs::test::TempDir dir("rs-journal");
  const std::string path = dir.file("broker.journal");
  const std::string first = WriteJournal::encode(batch_of(1));
  const std::string second = WriteJournal::encode(batch_of(2));
  // Every cut inside the second record (a crash mid-append) leaves the first one.
  for (size_t cut : {size_t{1}, size_t{4}, size_t{8}, second.size() / 2, second.size() - 1}) {
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << first << second.substr(0, cut);
    }
    uint64_t skipped = 0;
    std::vector<JournalBatch> back = reopen(path, &skipped);
    ASSERT_EQ(back.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(back[0], batch_of(1));
    EXPECT_EQ(skipped, cut);
    EXPECT_EQ(fs::file_size(path), first.size()) << "the torn tail is cut off the file";
  }
  // A flipped byte in the second record's payload fails its checksum; a batch appended
  // after the cut is read back after the first.
  {
    std::string bad = second;
    bad[bad.size() - 3] ^= 0x5A;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << first << bad;
  }
  {
    WriteJournal j(path);
    auto r = j.open();
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(j.skipped_bytes(), second.size());
    ASSERT_TRUE(j.append(batch_of(3)).ok());
  }
  std::vector<JournalBatch> back = reopen(path);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0], batch_of(1));
  EXPECT_EQ(back[1], batch_of(3));
}

TEST(WriteJournalTest, OnlyABatchResultsAutoIdXaddChangesForReplayAndItIsAddedOnce) {
  const store::RedisCommand hset{"HSET", "rs:job:a", "state", "DONE"};
  EXPECT_EQ(WriteJournal::replay_form(hset), hset);
  const store::RedisCommand token{"XADD", "rs:tokens:a", "3-1", "t", "x"};
  EXPECT_EQ(WriteJournal::replay_form(token), token);
  RS_REQUIRE_REDIS();
  rs::test::RedisServer redis;
  ASSERT_TRUE(redis.start());
  store::RedisConnection conn(store::RedisOptions{.port = redis.port()});
  ASSERT_TRUE(conn.connect().ok());
  const store::RedisCommand result{
      "XADD",  "rs:batch:b:results", "*", "id", "item-1", "text", "hi", "job_id", "a",
      "state", "SUCCEEDED"};
  const store::RedisCommand other{
      "XADD",  "rs:batch:b:results", "*", "id", "item-2", "text", "yo", "job_id", "b",
      "state", "SUCCEEDED"};
  ASSERT_TRUE(conn.command(result).ok());  // applied once before the crash
  ASSERT_TRUE(conn.command(other).ok());   // and a later result of another job
  const store::RedisCommand replay = WriteJournal::replay_form(result);
  EXPECT_EQ(replay[0], "EVAL");
  for (int i = 0; i < 2; ++i) {
    auto r = conn.command(replay);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_FALSE(r->is_error()) << r->str;
  }
  auto len = conn.command({"XLEN", "rs:batch:b:results"});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ(len->integer, 2) << "the replayed result was not added again";
  // Never applied before: the replay adds it.
  const store::RedisCommand third{
      "XADD",  "rs:batch:b:results", "*", "id", "item-3", "text", "z", "job_id", "c", "state",
      "FAILED"};
  ASSERT_TRUE(conn.command(WriteJournal::replay_form(third)).ok());
  ASSERT_TRUE(conn.command(WriteJournal::replay_form(third)).ok());
  len = conn.command({"XLEN", "rs:batch:b:results"});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ(len->integer, 3);
}

}  // namespace journal_test
}  // namespace rs::broker::testing
