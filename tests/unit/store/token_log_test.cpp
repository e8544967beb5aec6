#include "rs/store/token_log.h"

#include <limits>

#include "store_fixture.h"

namespace rs::store {
namespace {

using schemas::JobState;
using schemas::TokenEntry;

class TokenLogTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    TokenLogOptions o;
    o.keys.prefix = prefix_;
    o.finished_ttl_s = 3600;
    log_ = std::make_unique<TokenLog>(*conn_, o);
  }
  static std::vector<TokenEntry> tokens(const std::string& job, uint64_t from, uint64_t to, uint32_t attempt = 1) {
    std::vector<TokenEntry> out;
    for (uint64_t s = from; s < to; ++s) {
      std::string text = "t";
      text += std::to_string(s);
      // Logprobs of every shape: 0, tiny, long fractions, the lowest float.
      const float logprob = s == 0   ? 0.0f
                            : s == 9 ? std::numeric_limits<float>::lowest()
                                     : -1.0f / static_cast<float>(s * 7 + 3);
      out.push_back(TokenEntry{job, attempt, s, static_cast<int32_t>(100 + s), text, logprob});
    }
    return out;
  }
  std::unique_ptr<TokenLog> log_;
};

TEST_F(TokenLogTest, AppendAndReplayFromZeroAndTheMiddle) {
  auto a = log_->append(tokens("j", 0, 10));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->appended, 10u);
  auto all = log_->read("j", 0);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  EXPECT_EQ(all->entries, tokens("j", 0, 10));
  EXPECT_FALSE(all->finished);
  auto mid = log_->read("j", 6);
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->entries, tokens("j", 6, 10));
  auto page = log_->read("j", 2, 3);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries, tokens("j", 2, 5));
  auto past = log_->read("j", 10);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->entries.empty());
}

TEST_F(TokenLogTest, DuplicatesAndStaleSequencesAreSkipped) {
  ASSERT_TRUE(log_->append(tokens("j", 0, 5)).ok());
  // A group with nothing past the end is refused by Redis.
  auto d = log_->append(tokens("j", 2, 5, 2));
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->appended, 0u);
  EXPECT_EQ(d->duplicates, 3u);
  // A retried attempt re-sends 0..7 as one group: stored, and on read only 5..7 are new
  // (a seq's first occurrence wins).
  auto a = log_->append(tokens("j", 0, 8, 2));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->appended, 8u);
  EXPECT_EQ(a->duplicates, 0u);
  auto r = log_->read("j", 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->entries.size(), 8u);
  for (uint64_t s = 0; s < 8; ++s) EXPECT_EQ(r->entries[s].seq, s);
  EXPECT_EQ(r->entries[4].attempt, 1u);
  EXPECT_EQ(r->entries[5].attempt, 2u);
}

TEST_F(TokenLogTest, OneEntryPerGroupAndPagesCountTokens) {
  std::vector<TokenEntry> group = tokens("g", 0, 6);
  group[2].text = "";       // empty pieces survive
  group[3].text = "a b\n";  // spaces and newlines in a piece
  ASSERT_TRUE(log_->append(group).ok());
  auto len = conn_->command({"XLEN", log_->options().keys.tokens("g")});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ(len->integer, 1);
  auto all = log_->read("g", 0);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  EXPECT_EQ(all->entries, group);
  auto page = log_->read("g", 1, 2);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries, std::vector<TokenEntry>(group.begin() + 1, group.begin() + 3));
}

// Every token's logprob comes back bit for bit; an entry written before logprobs were
// stored reads as 0; a logprobs list that does not match the tokens is corrupt.
TEST_F(TokenLogTest, LogprobsRoundTripAndOldEntriesReadAsZero) {
  std::vector<TokenEntry> group = tokens("lp", 0, 10);
  group[4].logprob = -1e-30f;
  group[5].logprob = -87.33654f;
  ASSERT_TRUE(log_->append(group).ok());
  auto all = log_->read("lp", 0);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->entries.size(), group.size());
  for (size_t i = 0; i < group.size(); ++i)
    EXPECT_EQ(all->entries[i].logprob, group[i].logprob) << i;
  EXPECT_EQ(all->entries, group);

  const std::string old_key = log_->options().keys.tokens("old");
  ASSERT_TRUE(conn_
                  ->command({"XADD", old_key, "1-1", "seq", "0", "attempt", "1", "tokens", "5 6",
                             "lens", "1 1", "text", "ab"})
                  .ok());
  auto old = log_->read("old", 0);
  ASSERT_TRUE(old.ok()) << old.status().to_string();
  ASSERT_EQ(old->entries.size(), 2u);
  EXPECT_EQ(old->entries[1].text, "b");
  EXPECT_EQ(old->entries[0].logprob, 0.0f);
  EXPECT_EQ(old->entries[1].logprob, 0.0f);

  const std::string bad_key = log_->options().keys.tokens("bad");
  ASSERT_TRUE(conn_
                  ->command({"XADD", bad_key, "1-1", "seq", "0", "attempt", "1", "tokens", "5 6",
                             "lens", "1 1", "text", "ab", "logprobs", "-0.5"})
                  .ok());
  EXPECT_EQ(log_->read("bad", 0).status().code(), StatusCode::kCorrupt);
}

// Alternatives and prompt logprobs (one logprob_extras field per group that has any) read
// back from any seq, also from the final marker's group; a second append of the same seqs
// (a retried or stale write) changes nothing; a bad extras field is corrupt, not a crash.
TEST_F(TokenLogTest, AlternativesAndPromptLogprobsRoundTripFromAnySeq) {
  std::vector<TokenEntry> group = tokens("alt", 0, 6);
  for (TokenEntry& e : group) {
    e.top = {{e.token, e.text, e.logprob}, {7, "\xe2\x82", -9.5f}};
  }
  group[0].prompt = {{1, "", 0.0f, {}}, {42, " Once", -3.25f, {{40, " One", -1.0f}, {42, " Once", -3.25f}}}};
  ASSERT_TRUE(log_->append({group.begin(), group.begin() + 4}).ok());
  ASSERT_TRUE(log_->append({group.begin(), group.begin() + 4}).ok());  // duplicates: skipped
  std::vector<rs::store::RedisCommand> commands;
  log_->finish_commands("alt", JobState::kSucceeded, 6, commands, {group.begin() + 4, group.end()});
  ASSERT_TRUE(conn_->pipeline(commands).ok());
  for (uint64_t from : {0u, 1u, 3u, 4u, 5u}) {
    auto r = log_->read("alt", from);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->entries, std::vector<TokenEntry>(group.begin() + static_cast<std::ptrdiff_t>(from), group.end()))
        << "from " << from;
    EXPECT_TRUE(r->finished);
  }
  auto page = log_->read("alt", 2, 1);  // a page inside a group keeps its entry's extras
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->entries[0], group[2]);

  const std::string bad_key = log_->options().keys.tokens("bad-extras");
  ASSERT_TRUE(conn_
                  ->command({"XADD", bad_key, "0-1", "seq", "0", "attempt", "1", "tokens", "5",
                             "lens", "1", "text", "a", "logprob_extras", "\x81\xa7" "entries\xdd\xff\xff\xff\xff"})
                  .ok());
  EXPECT_EQ(log_->read("bad-extras", 0).status().code(), StatusCode::kCorrupt);
}

TEST_F(TokenLogTest, ManyJobsInOnePipeline) {
  std::vector<TokenEntry> batch;
  for (int step = 0; step < 20; ++step) {
    for (int j = 0; j < 50; ++j) {
      batch.push_back(TokenEntry{"job" + std::to_string(j), 1, static_cast<uint64_t>(step), step, "x"});
    }
  }
  auto a = log_->append(batch);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->appended, 1000u);
  auto r = log_->read("job7", 15);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->entries.size(), 5u);
  EXPECT_EQ(r->entries.front().seq, 15u);
}

TEST_F(TokenLogTest, FinalMarkerEndsTheStream) {
  ASSERT_TRUE(log_->append(tokens("j", 0, 3)).ok());
  ASSERT_TRUE(log_->finish("j", JobState::kSucceeded, 3).ok());
  ASSERT_TRUE(log_->finish("j", JobState::kSucceeded, 3).ok());  // idempotent
  auto r = log_->read("j", 1);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->entries, tokens("j", 1, 3));
  EXPECT_TRUE(r->finished);
  EXPECT_EQ(r->final_state, JobState::kSucceeded);
  EXPECT_EQ(r->n_tokens, 3u);
  // Nothing can be appended after the final marker.
  auto late = log_->append(tokens("j", 3, 5));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->appended, 0u);
  EXPECT_EQ(late->duplicates, 2u);
  auto ttl = conn_->command({"TTL", log_->options().keys.tokens("j")});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(ttl->integer, 0);
  // A job that produced no tokens still gets a final marker.
  ASSERT_TRUE(log_->finish("empty", JobState::kCancelled, 0).ok());
  auto e = log_->read("empty", 0);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->entries.empty());
  EXPECT_TRUE(e->finished);
  EXPECT_EQ(e->final_state, JobState::kCancelled);
}

// A job's last tokens and its end in one turn: the marker carries them (one XADD, applied
// again as a duplicate); tokens that are not the log's last run go before it as groups.
TEST_F(TokenLogTest, TheFinalMarkerCarriesTheLastGroup) {
  ASSERT_TRUE(log_->append(tokens("j", 0, 3)).ok());
  std::vector<rs::store::RedisCommand> commands;
  const size_t appends = log_->finish_commands("j", JobState::kSucceeded, 6, commands, tokens("j", 3, 6));
  ASSERT_EQ(appends, 1u) << "one XADD: the marker with the group";
  ASSERT_EQ(commands.size(), 2u);  // and the EXPIRE (finished_ttl_s)
  for (int round = 0; round < 2; ++round) {  // the second: a retried batch
    auto replies = conn_->pipeline(commands);
    ASSERT_TRUE(replies.ok());
    EXPECT_TRUE(TokenLog::parse_append_replies(std::span(*replies).first(1)).ok());
  }
  auto r = log_->read("j", 1);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->entries, tokens("j", 1, 6));
  EXPECT_TRUE(r->finished);
  EXPECT_EQ(r->n_tokens, 6u);
  auto from_last = log_->read("j", 4);  // a replay that starts inside the carried group
  ASSERT_TRUE(from_last.ok());
  EXPECT_EQ(from_last->entries, tokens("j", 4, 6));
  auto prefixes = log_->read_prefixes(std::vector<std::string>{"j"}, 100);
  ASSERT_EQ(prefixes.size(), 1u);
  EXPECT_EQ(prefixes[0].tokens.size(), 6u);
  // Two attempts' tokens (two groups): appended before the marker, which carries none.
  commands.clear();
  EXPECT_EQ(log_->finish_commands("k", JobState::kFailed, 4, commands,
                                  {tokens("k", 0, 2, 1)[0], tokens("k", 0, 2, 1)[1],
                                   tokens("k", 2, 4, 2)[0], tokens("k", 2, 4, 2)[1]}),
            3u);
  ASSERT_TRUE(conn_->pipeline(commands).ok());
  auto k = log_->read("k", 0);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->entries.size(), 4u);
  EXPECT_TRUE(k->finished);
}

// A restarted broker's read of many jobs' logs: pages of 2 entries and pipelines of 2 jobs
// force several round trips; each job's prefix stops at its first hole or final marker.
TEST_F(TokenLogTest, ReadPrefixesOfManyJobsPageByPageUpToTheFirstHole) {
  TokenLogOptions o = log_->options();
  o.max_read = 2;
  TokenLog paged(*conn_, o);
  auto ids = [](const std::vector<TokenEntry>& es) {
    std::vector<int32_t> out;
    for (const auto& e : es) out.push_back(e.token);
    return out;
  };
  // "whole": 10 tokens in five groups, then the final marker.
  for (uint64_t s = 0; s < 10; s += 2) ASSERT_TRUE(log_->append(tokens("whole", s, s + 2)).ok());
  ASSERT_TRUE(log_->finish("whole", JobState::kSucceeded, 10).ok());
  // "holed": seqs 0..2 and 5..7 (3 and 4 never written).
  ASSERT_TRUE(log_->append(tokens("holed", 0, 3)).ok());
  ASSERT_TRUE(log_->append(tokens("holed", 5, 8)).ok());
  // "retried": attempt 2 overlaps attempt 1 (the first occurrence of a seq wins).
  ASSERT_TRUE(log_->append(tokens("retried", 0, 5, 1)).ok());
  ASSERT_TRUE(log_->append(tokens("retried", 3, 9, 2)).ok());
  // "long": 7 tokens, one per group, cut at max_tokens 6.
  for (uint64_t s = 0; s < 7; ++s) ASSERT_TRUE(log_->append(tokens("long", s, s + 1)).ok());
  const std::vector<std::string> jobs = {"whole", "holed", "nobody", "retried", "long"};
  size_t round_trips = 0;
  auto got = paged.read_prefixes(jobs, /*max_tokens=*/6, /*chunk=*/2, &round_trips);
  ASSERT_EQ(got.size(), jobs.size());
  for (const TokenPrefix& p : got) EXPECT_TRUE(p.status.ok()) << p.status.to_string();
  EXPECT_EQ(got[0].tokens, ids(tokens("whole", 0, 6)));  // max_tokens 6 of its 10
  EXPECT_EQ(got[1].tokens, ids(tokens("holed", 0, 3)));
  EXPECT_EQ(got[1].text, "t0t1t2");
  EXPECT_TRUE(got[2].tokens.empty());
  EXPECT_EQ(got[3].tokens, ids(tokens("retried", 0, 6)));
  EXPECT_EQ(got[4].tokens, ids(tokens("long", 0, 6)));
  EXPECT_GT(round_trips, 3u) << "three pipelines of two jobs, then further pages";
  auto whole = paged.read_prefixes(std::vector<std::string>{"whole"}, 100);
  EXPECT_EQ(whole[0].tokens, ids(tokens("whole", 0, 10)));
  EXPECT_EQ(whole[0].text, "t0t1t2t3t4t5t6t7t8t9");
}

TEST_F(TokenLogTest, ReadPrefixesReportsAMalformedLogAndRedisDown) {
  ASSERT_TRUE(log_->append(tokens("good", 0, 3)).ok());
  ASSERT_TRUE(conn_
                  ->command({"XADD", log_->options().keys.tokens("bad"), "1-1", "seq", "0",
                             "attempt", "1", "tokens", "5 6", "lens", "1", "text", "ab"})
                  .ok());
  auto got = log_->read_prefixes(std::vector<std::string>{"bad", "good"}, 100);
  EXPECT_EQ(got[0].status.code(), StatusCode::kCorrupt);
  EXPECT_TRUE(got[0].tokens.empty());
  EXPECT_TRUE(got[1].status.ok());
  EXPECT_EQ(got[1].tokens.size(), 3u);
  server_->stop();
  auto down = log_->read_prefixes(std::vector<std::string>{"good", "bad"}, 100);
  ASSERT_EQ(down.size(), 2u);
  for (const TokenPrefix& p : down) {
    EXPECT_EQ(p.status.code(), StatusCode::kUnavailable);
    EXPECT_TRUE(p.tokens.empty());
  }
  ASSERT_TRUE(server_->start());
}

TEST_F(TokenLogTest, UnknownJobReadsEmpty) {
  auto r = log_->read("nobody", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->entries.empty());
  EXPECT_FALSE(r->finished);
}

TEST_F(TokenLogTest, RedisDownThenRecovers) {
  server_->stop();
  auto a = log_->append(tokens("j", 0, 3));
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(log_->read("j", 0).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(server_->start());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto b = log_->append(tokens("j", 0, 3));
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->appended, 3u);
}

}  // namespace
}  // namespace rs::store
