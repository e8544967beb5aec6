// Scheduler priorities: interactive before batch in the waiting order, batch victims first,
// interactive sequences preempting batch ones for a slot or blocks, batch prefill deferred
// while an interactive prefill is pending. Pure: no model.
#include <gtest/gtest.h>

#include <vector>

#include "rs/engine/scheduler.h"
#include "scheduler_harness.h"

namespace rs::engine {
namespace {

constexpr Priority kI = Priority::kInteractive;
constexpr Priority kB = Priority::kBatch;

using test::chunk_of;
using test::prompt_of;
using test::run_step;
using test::tiny_kv;

bool was_preempted(const SchedulerOutput& out, SeqId id) {
  for (SeqId p : out.preempted)
    if (p == id) return true;
  return false;
}

TEST(SchedulerPriorityTest, WaitingOrderIsInteractiveFirstFifoWithin) {
  KvCache kv(tiny_kv(32));
  SchedulerConfig cfg;
  cfg.max_batch_size = 1;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(3), 1, kB).ok());
  ASSERT_TRUE(s.add(2, prompt_of(3), 1, kB).ok());
  ASSERT_TRUE(s.add(3, prompt_of(3), 1, kI).ok());
  ASSERT_TRUE(s.add(4, prompt_of(3), 1, kI).ok());
  EXPECT_EQ(s.n_waiting(kI), 2);
  EXPECT_EQ(s.n_waiting(kB), 2);
  std::vector<SeqId> admitted;
  for (int i = 0; i < 10 && s.has_work(); ++i) {
    for (const auto& c : run_step(s).chunks)
      if (c.first_schedule) admitted.push_back(c.seq);
  }
  EXPECT_EQ(admitted, (std::vector<SeqId>{3, 4, 1, 2}));
  EXPECT_EQ(s.n_preemptions(), 0);
}

TEST(SchedulerPriorityTest, BlockVictimIsNewestBatchNotInteractive) {
  KvCache kv(tiny_kv(6));  // 24 positions
  SchedulerConfig cfg;
  cfg.prefix_cache = false;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(6), 10, kI).ok());
  ASSERT_TRUE(s.add(2, prompt_of(6, 40), 6, kB).ok());
  ASSERT_TRUE(s.add(3, prompt_of(6, 80), 6, kB).ok());
  run_step(s);  // the interactive prefill first; batch admission waits for it
  EXPECT_EQ(s.n_running(), 1);
  run_step(s);  // both batch sequences in: 2 blocks each, the pool is dry
  EXPECT_EQ(s.n_running(), 3);
  EXPECT_EQ(kv.n_free_blocks(), 0);
  std::vector<SeqId> preempted;
  for (int i = 0; i < 40 && s.has_work(); ++i) {
    auto o = run_step(s);
    preempted.insert(preempted.end(), o.preempted.begin(), o.preempted.end());
    if (const SchedSeq* q = s.find(1)) {
      EXPECT_EQ(q->n_preemptions, 0);
    }
  }
  EXPECT_FALSE(s.has_work());
  ASSERT_FALSE(preempted.empty());
  EXPECT_EQ(preempted[0], 3u);  // the newest batch sequence, never the interactive one
  for (SeqId id : preempted) EXPECT_NE(id, 1u);
  EXPECT_EQ(kv.n_free_blocks(), 6);
}

TEST(SchedulerPriorityTest, BatchNeverPreemptsInteractive) {
  KvCache kv(tiny_kv(4));  // 16 positions
  SchedulerConfig cfg;
  cfg.prefix_cache = false;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(2, prompt_of(6), 8, kB).ok());
  run_step(s);
  ASSERT_TRUE(s.add(1, prompt_of(6, 50), 8, kI).ok());  // newer than the batch one
  run_step(s);  // admitted: 2 blocks each, the pool is dry
  EXPECT_EQ(kv.n_free_blocks(), 0);
  EXPECT_EQ(s.n_running(), 2);
  SchedulerOutput o;
  for (int i = 0; i < 4 && o.preempted.empty(); ++i) o = run_step(s);
  // Batch seq 2 reaches position 8 first and needs a third block: it yields itself.
  ASSERT_EQ(o.preempted, (std::vector<SeqId>{2}));
  EXPECT_NE(chunk_of(o, 1), nullptr);
  EXPECT_TRUE(s.find(1)->running);
  EXPECT_EQ(s.find(1)->n_preemptions, 0);
  while (s.find(1) != nullptr) {
    auto step = run_step(s);
    EXPECT_FALSE(was_preempted(step, 1));
  }
  while (s.has_work()) run_step(s);
  EXPECT_EQ(kv.n_free_blocks(), 4);
}

TEST(SchedulerPriorityTest, InteractivePreemptsNewestBatchForASlot) {
  KvCache kv(tiny_kv(32));
  SchedulerConfig cfg;
  cfg.max_batch_size = 2;
  cfg.prefix_cache = false;  // the resumed sequence recomputes everything
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(3), 20, kB).ok());
  ASSERT_TRUE(s.add(2, prompt_of(3, 30), 20, kB).ok());
  run_step(s);
  run_step(s);
  ASSERT_EQ(s.n_running(), 2);
  ASSERT_TRUE(s.add(3, prompt_of(5, 60), 4, kI).ok());
  auto o = run_step(s);
  EXPECT_EQ(o.preempted, (std::vector<SeqId>{2}));  // only as many as needed: one
  ASSERT_NE(chunk_of(o, 3), nullptr);
  EXPECT_TRUE(chunk_of(o, 3)->first_schedule);
  EXPECT_EQ(chunk_of(o, 3)->n_tokens, 5);
  EXPECT_EQ(chunk_of(o, 1), nullptr);  // batch work waits for the interactive prefill
  EXPECT_EQ(chunk_of(o, 2), nullptr);
  EXPECT_EQ(s.n_running(), 2);
  EXPECT_NE(chunk_of(run_step(s), 1), nullptr);  // then the older batch sequence decodes on
  // No thrash: the preempted one waits (front of the batch lane) until the slot frees.
  for (int i = 0; i < 2; ++i) {
    auto n = run_step(s);
    EXPECT_TRUE(n.preempted.empty());
    EXPECT_EQ(chunk_of(n, 2), nullptr);
  }
  EXPECT_EQ(s.find(3), nullptr);  // 4 tokens: done
  auto resumed = run_step(s);
  ASSERT_NE(chunk_of(resumed, 2), nullptr);
  EXPECT_EQ(chunk_of(resumed, 2)->pos0, 0);
  EXPECT_EQ(chunk_of(resumed, 2)->n_tokens, 5);  // recompute: prompt 3 + 2 produced
  EXPECT_EQ(s.find(2)->n_preemptions, 1);
  EXPECT_EQ(s.n_preemptions(), 1);
}

TEST(SchedulerPriorityTest, InteractivePreemptsBatchForBlocksOnlyAsNeeded) {
  KvCache kv(tiny_kv(4));  // 16 positions
  SchedulerConfig cfg;
  cfg.prefix_cache = false;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(6), 3, kB).ok());
  ASSERT_TRUE(s.add(2, prompt_of(6, 30), 3, kB).ok());
  run_step(s);
  ASSERT_EQ(kv.n_free_blocks(), 0);
  ASSERT_TRUE(s.add(3, prompt_of(3, 60), 2, kI).ok());  // needs 1 block
  auto o = run_step(s);
  EXPECT_EQ(o.preempted, (std::vector<SeqId>{2}));
  EXPECT_EQ(chunk_of(o, 2), nullptr);
  EXPECT_EQ(chunk_of(o, 1), nullptr);  // waits for the interactive prefill
  ASSERT_NE(chunk_of(o, 3), nullptr);
  EXPECT_TRUE(chunk_of(o, 3)->first_schedule);
  EXPECT_EQ(o.n_tokens, 3);
  auto next = run_step(s);  // interactive decode plus the remaining batch decode
  EXPECT_NE(chunk_of(next, 1), nullptr);
  EXPECT_NE(chunk_of(next, 3), nullptr);
  EXPECT_TRUE(next.preempted.empty());
  while (s.has_work()) run_step(s);
  EXPECT_EQ(kv.n_free_blocks(), 4);
}

TEST(SchedulerPriorityTest, NoPreemptionWhenBatchCannotMakeEnoughRoom) {
  KvCache kv(tiny_kv(6));
  SchedulerConfig cfg;
  cfg.prefix_cache = false;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(14), 2, kI).ok());  // 4 blocks
  ASSERT_TRUE(s.add(2, prompt_of(3, 40), 4, kB).ok());
  run_step(s);
  run_step(s);  // seq 1 decodes; seq 2 admitted (1 block)
  ASSERT_EQ(s.n_running(), 1);  // seq 1 finished (2 tokens)
  ASSERT_TRUE(s.add(3, prompt_of(14, 60), 2, kI).ok());
  ASSERT_TRUE(s.add(4, prompt_of(20, 80), 2, kI).ok());  // 5 blocks
  // seq 3 (4 blocks) fits in the free ones; seq 4 would need more than batch 2 holds.
  auto o = run_step(s);
  EXPECT_NE(chunk_of(o, 3), nullptr);
  EXPECT_EQ(chunk_of(o, 4), nullptr);
  EXPECT_TRUE(o.preempted.empty());
  EXPECT_EQ(s.find(2)->n_preemptions, 0);
  // Seq 4 keeps waiting; no interactive prefill runs now, so batch 2 decodes on.
  auto next = run_step(s);
  EXPECT_NE(chunk_of(next, 2), nullptr);
  EXPECT_EQ(chunk_of(next, 4), nullptr);
}

TEST(SchedulerPriorityTest, SeveralInteractivePreemptSeveralBatch) {
  KvCache kv(tiny_kv(32));
  SchedulerConfig cfg;
  cfg.max_batch_size = 3;
  Scheduler s(kv, cfg);
  for (SeqId id = 1; id <= 3; ++id) ASSERT_TRUE(s.add(id, prompt_of(3, 10 * id), 20, kB).ok());
  run_step(s);
  ASSERT_TRUE(s.add(4, prompt_of(3, 60), 5, kI).ok());
  ASSERT_TRUE(s.add(5, prompt_of(3, 70), 5, kI).ok());
  auto o = run_step(s);
  EXPECT_EQ(o.preempted, (std::vector<SeqId>{3, 2}));  // newest first
  EXPECT_NE(chunk_of(o, 4), nullptr);
  EXPECT_NE(chunk_of(o, 5), nullptr);
  EXPECT_EQ(s.n_running(), 3);
  // Readmission order keeps the batch sequences' original order: 2 before 3.
  std::vector<SeqId> admitted;
  while (s.has_work()) {
    for (const auto& c : run_step(s).chunks)
      if (c.first_schedule) admitted.push_back(c.seq);
  }
  ASSERT_GE(admitted.size(), 2u);
  EXPECT_EQ(admitted[0], 2u);
  EXPECT_EQ(admitted[1], 3u);
}

TEST(SchedulerPriorityTest, BatchWorkWaitsWhileAnInteractivePrefillRuns) {
  KvCache kv(tiny_kv(64));
  SchedulerConfig cfg;
  cfg.max_batch_tokens = 8;
  cfg.prefix_cache = false;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(3), 20, kB).ok());
  ASSERT_TRUE(s.add(2, prompt_of(20, 40), 4, kB).ok());
  run_step(s);  // seq 1 prefill 3, seq 2 first 5 tokens
  ASSERT_TRUE(s.add(3, prompt_of(12, 80), 2, kI).ok());
  auto o1 = run_step(s);  // the interactive prefill takes the whole step
  EXPECT_EQ(chunk_of(o1, 1), nullptr);
  EXPECT_EQ(chunk_of(o1, 2), nullptr);
  ASSERT_NE(chunk_of(o1, 3), nullptr);
  EXPECT_EQ(chunk_of(o1, 3)->n_tokens, 8);
  auto o2 = run_step(s);  // its last 4 tokens: batch work still waits
  EXPECT_EQ(chunk_of(o2, 1), nullptr);
  EXPECT_EQ(chunk_of(o2, 2), nullptr);
  ASSERT_NE(chunk_of(o2, 3), nullptr);
  EXPECT_EQ(chunk_of(o2, 3)->n_tokens, 4);
  EXPECT_TRUE(chunk_of(o2, 3)->needs_logits);
  auto o3 = run_step(s);  // seq 3 decodes: batch decode and prefill resume
  EXPECT_NE(chunk_of(o3, 3), nullptr);
  EXPECT_NE(chunk_of(o3, 1), nullptr);
  EXPECT_NE(chunk_of(o3, 2), nullptr);
  EXPECT_TRUE(o1.preempted.empty() && o2.preempted.empty() && o3.preempted.empty());
}

TEST(SchedulerPriorityTest, InteractiveWithoutBatchVictimsWaitsAndBatchDoesNotOvertake) {
  KvCache kv(tiny_kv(32));
  SchedulerConfig cfg;
  cfg.max_batch_size = 2;
  Scheduler s(kv, cfg);
  ASSERT_TRUE(s.add(1, prompt_of(3), 20, kI).ok());
  ASSERT_TRUE(s.add(2, prompt_of(3, 30), 20, kI).ok());
  ASSERT_TRUE(s.add(3, prompt_of(3, 60), 20, kB).ok());
  run_step(s);
  ASSERT_TRUE(s.add(4, prompt_of(3, 90), 2, kI).ok());  // no batch sequence to preempt
  auto o = run_step(s);
  EXPECT_TRUE(o.preempted.empty());
  EXPECT_EQ(chunk_of(o, 4), nullptr);
  EXPECT_EQ(chunk_of(o, 3), nullptr);  // and batch 3 does not overtake it
  EXPECT_EQ(s.n_waiting(kI), 1);
  EXPECT_EQ(s.n_waiting(kB), 1);
}

}  // namespace
}  // namespace rs::engine
