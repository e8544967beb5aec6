#include "rs/engine/scheduler.h"

#include <gtest/gtest.h>

#include <vector>

#include "scheduler_harness.h"

namespace rs::engine {
namespace {

using test::chunk_of;
using test::prompt_of;
using test::run_step;
using test::tiny_kv;

TEST(SchedulerTest, RejectsInvalidAndImpossibleRequests) {
  KvCache kv(tiny_kv(4));
  SchedulerConfig cfg;
  cfg.max_context = 12;
  Scheduler s(kv, cfg);
  EXPECT_EQ(s.add(1, {}, 4).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.add(2, prompt_of(13), 4).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.add(3, prompt_of(4), -1).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(s.add(4, prompt_of(4), 4).ok());
  EXPECT_EQ(s.add(4, prompt_of(4), 4).code(), StatusCode::kInvalidArgument);  // duplicate
  // 4 blocks x 4 tokens = 16 positions; context 12 clamps max_tokens, so it fits.
  EXPECT_TRUE(s.add(5, prompt_of(10), 100).ok());
  EXPECT_EQ(s.find(5)->max_tokens, 2);
  {  // max_tokens 0 (prompt logprobs only): the prompt's positions, nothing sampled
    KvCache one(tiny_kv(1));
    Scheduler z(one, cfg);
    EXPECT_TRUE(z.add(8, prompt_of(4), 0).ok());
    EXPECT_EQ(z.find(8)->max_tokens, 0);
    EXPECT_EQ(z.add(9, prompt_of(5), 0).code(), StatusCode::kResourceExhausted);  // 5 > 4 positions
  }
  KvCache small(tiny_kv(2));
  Scheduler t(small, cfg);
  Status st = t.add(6, prompt_of(8), 4);  // 11 positions > 8
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("KV blocks"), std::string::npos);
}

// A sequence whose every position's logits are kept (prompt logprobs) is cut to its own
// chunk cap, at admission and while running; the others still fill the budget.
TEST(SchedulerTest, AChunkCapLimitsOnlyItsSequence) {
  KvCache kv(tiny_kv(32));
  SchedulerConfig cfg;
  cfg.max_batch_tokens = 16;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(11), 2).ok());
  ASSERT_TRUE(s.limit_chunks(1, 4));
  EXPECT_FALSE(s.limit_chunks(99, 4));
  ASSERT_TRUE(s.add(2, prompt_of(20, 100), 2).ok());
  auto o1 = run_step(s);
  ASSERT_NE(chunk_of(o1, 1), nullptr);
  EXPECT_EQ(chunk_of(o1, 1)->n_tokens, 4);
  ASSERT_NE(chunk_of(o1, 2), nullptr);
  EXPECT_EQ(chunk_of(o1, 2)->n_tokens, 12);  // the rest of the budget
  auto o2 = run_step(s);
  EXPECT_EQ(chunk_of(o2, 1)->pos0, 4);
  EXPECT_EQ(chunk_of(o2, 1)->n_tokens, 4);
  auto o3 = run_step(s);
  EXPECT_EQ(chunk_of(o3, 1)->n_tokens, 3);  // the prompt's last 3: sampled after
  EXPECT_TRUE(chunk_of(o3, 1)->needs_logits);
}

TEST(SchedulerTest, TokenBudgetAndChunkedPrefill) {
  KvCache kv(tiny_kv(32));
  SchedulerConfig cfg;
  cfg.max_batch_tokens = 8;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(10), 3).ok());
  ASSERT_TRUE(s.add(2, prompt_of(5, 100), 3).ok());
  auto o1 = run_step(s);
  EXPECT_LE(o1.n_tokens, 8);
  ASSERT_EQ(o1.chunks.size(), 1u);
  EXPECT_EQ(o1.chunks[0].n_tokens, 8);
  EXPECT_FALSE(o1.chunks[0].needs_logits);
  EXPECT_TRUE(o1.chunks[0].first_schedule);
  auto o2 = run_step(s);  // seq 1: last 2 prompt tokens; seq 2: 6-token budget left -> 5
  ASSERT_NE(chunk_of(o2, 1), nullptr);
  EXPECT_EQ(chunk_of(o2, 1)->pos0, 8);
  EXPECT_EQ(chunk_of(o2, 1)->n_tokens, 2);
  EXPECT_TRUE(chunk_of(o2, 1)->needs_logits);
  ASSERT_NE(chunk_of(o2, 2), nullptr);
  EXPECT_EQ(chunk_of(o2, 2)->n_tokens, 5);
  EXPECT_EQ(o2.n_tokens, 7);
  auto o3 = run_step(s);  // both decode
  EXPECT_EQ(o3.n_tokens, 2);
  EXPECT_EQ(chunk_of(o3, 1)->pos0, 10);
  EXPECT_EQ(chunk_of(o3, 2)->pos0, 5);
  run_step(s);  // third tokens: both finish
  EXPECT_FALSE(s.has_work());
  EXPECT_EQ(kv.n_free_blocks(), 32);
}

TEST(SchedulerTest, DecodesAreNotStarvedByPrefillChunks) {
  KvCache kv(tiny_kv(64));
  SchedulerConfig cfg;
  cfg.max_batch_tokens = 8;
  cfg.prefix_cache = false;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(40), 5).ok());
  ASSERT_TRUE(s.add(2, prompt_of(2), 50).ok());
  run_step(s);  // seq 1 takes 8
  run_step(s);  // seq 1 takes 8
  // seq 2 is admitted only when budget is left; afterwards it decodes every step.
  for (int i = 0; i < 6; ++i) run_step(s);
  ASSERT_NE(s.find(2), nullptr);
  ASSERT_TRUE(s.find(2)->running);
  for (int i = 0; i < 3; ++i) {
    auto o = run_step(s);
    ASSERT_NE(chunk_of(o, 2), nullptr);
    EXPECT_EQ(chunk_of(o, 2)->n_tokens, 1);
    EXPECT_LE(o.n_tokens, 8);
  }
}

TEST(SchedulerTest, AdmissionIsFifoWithinBatchSize) {
  KvCache kv(tiny_kv(32));
  SchedulerConfig cfg;
  cfg.max_batch_size = 2;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(3), 2).ok());
  ASSERT_TRUE(s.add(2, prompt_of(3), 5).ok());
  ASSERT_TRUE(s.add(3, prompt_of(3), 5).ok());
  auto o1 = run_step(s);
  EXPECT_NE(chunk_of(o1, 1), nullptr);
  EXPECT_NE(chunk_of(o1, 2), nullptr);
  EXPECT_EQ(chunk_of(o1, 3), nullptr);
  EXPECT_EQ(s.n_running(), 2);
  EXPECT_EQ(s.n_waiting(), 1);
  run_step(s);  // seq 1 finishes (2 tokens)
  auto o3 = run_step(s);
  ASSERT_NE(chunk_of(o3, 3), nullptr);
  EXPECT_TRUE(chunk_of(o3, 3)->first_schedule);
}

TEST(SchedulerTest, PreemptsNewestAndResumesByRecompute) {
  KvCache kv(tiny_kv(4));  // 16 positions
  SchedulerConfig cfg;
  cfg.prefix_cache = false;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(6), 8).ok());   // up to 13 positions: 4 blocks
  ASSERT_TRUE(s.add(2, prompt_of(6, 50), 6).ok());
  run_step(s);  // both prefill: 2 blocks each, pool empty
  EXPECT_EQ(kv.n_free_blocks(), 0);
  EXPECT_EQ(s.n_running(), 2);
  run_step(s);  // decode at pos 6 (block 1 still)
  run_step(s);  // decode at pos 7
  auto o = run_step(s);  // pos 8 needs a third block: seq 2 is preempted
  ASSERT_EQ(o.preempted.size(), 1u);
  EXPECT_EQ(o.preempted[0], 2u);
  ASSERT_NE(chunk_of(o, 1), nullptr);
  EXPECT_EQ(chunk_of(o, 2), nullptr);
  const SchedSeq* q2 = s.find(2);
  EXPECT_FALSE(q2->running);
  EXPECT_EQ(q2->n_computed, 0);
  EXPECT_TRUE(q2->blocks.empty());
  EXPECT_EQ(q2->tokens.size(), 9u);  // prompt + 3 generated kept
  EXPECT_EQ(q2->n_preemptions, 1);
  // seq 1 runs to its end (8 tokens), then seq 2 resumes with a prefill of all 9.
  SchedulerOutput resumed;
  for (int i = 0; i < 10 && s.find(1) != nullptr; ++i) run_step(s);
  EXPECT_EQ(s.find(1), nullptr);
  resumed = run_step(s);
  ASSERT_NE(chunk_of(resumed, 2), nullptr);
  EXPECT_EQ(chunk_of(resumed, 2)->pos0, 0);
  EXPECT_EQ(chunk_of(resumed, 2)->n_tokens, 9);
  EXPECT_TRUE(chunk_of(resumed, 2)->needs_logits);
  while (s.has_work()) run_step(s);
  EXPECT_EQ(kv.n_free_blocks(), 4);
}

TEST(SchedulerTest, PreemptedSequenceGoesToFrontOfQueue) {
  KvCache kv(tiny_kv(4));
  SchedulerConfig cfg;
  cfg.prefix_cache = false;
  cfg.max_batch_size = 2;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(6), 8).ok());
  ASSERT_TRUE(s.add(2, prompt_of(6), 6).ok());
  ASSERT_TRUE(s.add(3, prompt_of(2), 2).ok());
  for (int i = 0; i < 4; ++i) run_step(s);
  ASSERT_FALSE(s.find(2)->running);
  ASSERT_EQ(s.n_waiting(), 2);
  while (s.find(1) != nullptr) run_step(s);
  auto o = run_step(s);
  EXPECT_NE(chunk_of(o, 2), nullptr);  // before 3
}

TEST(SchedulerTest, CancelFreesBlocksAtOnce) {
  KvCache kv(tiny_kv(8));
  Scheduler s(kv, SchedulerConfig{});
  ASSERT_TRUE(s.add(1, prompt_of(9), 4).ok());
  ASSERT_TRUE(s.add(2, prompt_of(3, 90), 4).ok());
  run_step(s);
  EXPECT_EQ(kv.n_free_blocks(), 8 - 3 - 1);
  EXPECT_TRUE(s.remove(1));
  EXPECT_EQ(kv.n_free_blocks(), 8 - 1);
  EXPECT_FALSE(s.remove(1));
  EXPECT_TRUE(s.remove(2));
  EXPECT_EQ(kv.n_free_blocks(), 8);
  EXPECT_FALSE(s.has_work());
  ASSERT_TRUE(s.add(3, prompt_of(3), 4).ok());  // cancel while waiting
  EXPECT_TRUE(s.remove(3));
  EXPECT_EQ(s.n_waiting(), 0);
}

TEST(SchedulerTest, BatchTimeoutWaitsForCompanyOrDeadline) {
  KvCache kv(tiny_kv(32));
  ManualClock clock;
  SchedulerConfig cfg;
  cfg.batch_timeout_ms = 10;
  cfg.max_batch_size = 3;
  Scheduler s(kv, cfg, &clock);
  ASSERT_TRUE(s.add(1, prompt_of(3), 20).ok());
  EXPECT_TRUE(s.schedule().empty());
  clock.advance_ms(5);
  EXPECT_TRUE(s.schedule().empty());
  ASSERT_TRUE(s.add(2, prompt_of(3), 20).ok());
  EXPECT_TRUE(s.schedule().empty());
  ASSERT_TRUE(s.add(3, prompt_of(3), 20).ok());  // batch full: start now
  auto o = run_step(s);
  EXPECT_EQ(o.chunks.size(), 3u);
  // Not idle any more: a new arrival joins at once.
  ASSERT_TRUE(s.remove(3));
  ASSERT_TRUE(s.add(4, prompt_of(3), 20).ok());
  EXPECT_NE(chunk_of(run_step(s), 4), nullptr);

  Scheduler t(kv, cfg, &clock);
  ASSERT_TRUE(t.add(1, prompt_of(3), 20).ok());
  clock.advance_ms(9.9);
  EXPECT_TRUE(t.schedule().empty());
  clock.advance_ms(0.2);
  EXPECT_EQ(run_step(t).chunks.size(), 1u);
}

TEST(SchedulerTest, ZeroTimeoutStartsAtOnce) {
  KvCache kv(tiny_kv(8));
  ManualClock clock;
  Scheduler s(kv, SchedulerConfig{}, &clock);
  ASSERT_TRUE(s.add(1, prompt_of(3), 2).ok());
  EXPECT_EQ(s.schedule().chunks.size(), 1u);
}

TEST(SchedulerTest, PrefixCacheReusesFullPromptBlocks) {
  KvCache kv(tiny_kv(16));
  Scheduler s(kv, SchedulerConfig{});
  ASSERT_TRUE(s.add(1, prompt_of(10), 2).ok());
  while (s.has_work()) run_step(s);
  EXPECT_EQ(kv.n_free_blocks(), 16);  // cached blocks count as free
  // Same 10-token prompt: 2 full blocks (8 positions) come from the cache.
  ASSERT_TRUE(s.add(2, prompt_of(10), 2).ok());
  auto o = run_step(s);
  ASSERT_NE(chunk_of(o, 2), nullptr);
  EXPECT_EQ(chunk_of(o, 2)->pos0, 8);
  EXPECT_EQ(chunk_of(o, 2)->n_tokens, 2);
  EXPECT_EQ(s.find(2)->cached_tokens, 8);
  // An 8-token prompt: its last token must be computed, so only the first block is reused.
  ASSERT_TRUE(s.add(3, prompt_of(8), 2).ok());
  o = run_step(s);
  EXPECT_EQ(chunk_of(o, 3)->pos0, 4);
  // A different first block: no reuse.
  ASSERT_TRUE(s.add(4, prompt_of(10, 11), 2).ok());
  o = run_step(s);
  EXPECT_EQ(chunk_of(o, 4)->pos0, 0);
  EXPECT_EQ(s.find(4)->cached_tokens, 0);
  while (s.has_work()) run_step(s);
  EXPECT_EQ(kv.n_free_blocks(), 16);
}

TEST(SchedulerTest, PrefixCacheSharesBlocksBetweenRunningSequences) {
  KvCache kv(tiny_kv(16));
  Scheduler s(kv, SchedulerConfig{});
  ASSERT_TRUE(s.add(1, prompt_of(9), 5).ok());
  run_step(s);
  ASSERT_TRUE(s.add(2, prompt_of(9), 5).ok());
  run_step(s);
  const SchedSeq* a = s.find(1);
  const SchedSeq* b = s.find(2);
  EXPECT_EQ(a->blocks[0], b->blocks[0]);
  EXPECT_EQ(a->blocks[1], b->blocks[1]);
  EXPECT_NE(a->blocks[2], b->blocks[2]);
  EXPECT_EQ(kv.refcount(a->blocks[0]), 2);
}

TEST(SchedulerTest, DisabledPrefixCacheNeverReuses) {
  KvCache kv(tiny_kv(16));
  SchedulerConfig cfg;
  cfg.prefix_cache = false;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(10), 2).ok());
  while (s.has_work()) run_step(s);
  ASSERT_TRUE(s.add(2, prompt_of(10), 2).ok());
  EXPECT_EQ(chunk_of(run_step(s), 2)->pos0, 0);
}

TEST(SchedulerTest, AdmissionWaitsForFreeBlocks) {
  KvCache kv(tiny_kv(4));
  SchedulerConfig cfg;
  cfg.prefix_cache = false;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(12), 2).ok());  // 3 blocks
  ASSERT_TRUE(s.add(2, prompt_of(8), 2).ok());   // 2 blocks: must wait
  auto o = run_step(s);
  EXPECT_EQ(o.chunks.size(), 1u);
  EXPECT_EQ(s.n_waiting(), 1);
  while (s.find(1) != nullptr) run_step(s);
  EXPECT_NE(chunk_of(run_step(s), 2), nullptr);
}

}  // namespace
}  // namespace rs::engine
