#include "rs/engine/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace rs::engine {
namespace {

TEST(ThreadPool, ParallelForCoversRangeOnce) {
  for (int n_threads : {1, 2, 3, 5}) {
    ThreadPool pool(n_threads);
    EXPECT_EQ(pool.n_threads(), n_threads);
    for (int64_t n : {0, 1, 2, 3, 7, 100, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> bad{0};
      pool.parallel_for(n, [&](int ti, int64_t b, int64_t e) {
        if (ti < 0 || ti >= n_threads || b >= e) bad.fetch_add(1);
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      });
      EXPECT_EQ(bad.load(), 0);
      for (auto& h : hits) EXPECT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPool, RunOnAllCallsEveryThreadOnce) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 200; ++rep) {
    std::vector<std::atomic<int>> seen(4);
    pool.run_on_all([&](int ti) { seen[static_cast<size_t>(ti)].fetch_add(1); });
    for (auto& s : seen) ASSERT_EQ(s.load(), 1);
  }
}

TEST(ThreadPool, ManySmallJobsAndSleepingWorkers) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  for (int rep = 0; rep < 5000; ++rep) {
    pool.parallel_for(10, [&](int, int64_t b, int64_t e) { total.fetch_add(e - b); });
  }
  EXPECT_EQ(total.load(), 50000);
  // Let the workers fall asleep, then make sure they wake up.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pool.parallel_for(10, [&](int, int64_t b, int64_t e) { total.fetch_add(e - b); });
  EXPECT_EQ(total.load(), 50010);
}

// Issue 11's crash: jobs of different task counts issued back to back (a run_on_all of
// n_threads tasks, then a for_each_chunk of more). The old pool kept the task count apart
// from its generation/next-task word, so a worker finishing one job could claim a task
// index past its end against the next job's count, run a stale or foreign function and
// count it as done for the next job, which then returned while one of its tasks still ran.
// Here every task checks that its job is still open (the caller has not returned) and that
// it runs once; before the fix this crashed or failed within a second on 2 to 4 threads.
TEST(ThreadPool, JobsOfChangingSizeNeverRunATaskTwiceOrAfterTheirCallReturned) {
  for (int n_threads : {2, 3, 4}) {
    ThreadPool pool(n_threads);
    std::atomic<int64_t> open_job{-1};
    std::atomic<int64_t> outside{0};
    std::atomic<int64_t> twice{0};
    std::vector<std::atomic<int>> hits(64);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(700);
    int64_t jobs = 0;
    for (int64_t k = 0; std::chrono::steady_clock::now() < deadline || k < 2000; ++k) {
      const int n = (k % 2 == 0) ? n_threads : 3 * n_threads + static_cast<int>(k % 5);
      for (int i = 0; i < n; ++i) hits[static_cast<size_t>(i)].store(0, std::memory_order_relaxed);
      open_job.store(k);
      auto task = [&, k](int64_t i) {
        if (open_job.load() != k) outside.fetch_add(1);
        if (hits[static_cast<size_t>(i)].fetch_add(1) != 0) twice.fetch_add(1);
        if (open_job.load() != k) outside.fetch_add(1);
      };
      if (k % 2 == 0) {
        pool.run_on_all([&](int i) { task(i); });
      } else {
        pool.for_each_chunk(n, task);
      }
      open_job.store(-1);
      for (int i = 0; i < n; ++i) {
        if (hits[static_cast<size_t>(i)].load() != 1) twice.fetch_add(1);
      }
      ++jobs;
      if (outside.load() != 0 || twice.load() != 0) break;
    }
    EXPECT_EQ(outside.load(), 0) << n_threads << " threads, " << jobs << " jobs";
    EXPECT_EQ(twice.load(), 0) << n_threads << " threads, " << jobs << " jobs";
  }
}

// Outside the contract (one calling thread, no calls from inside a task) the pool still
// runs every task exactly once: such a call runs its tasks on the calling thread.
TEST(ThreadPool, NestedAndConcurrentCallsRunEveryTaskOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> inner(9 * 7);
  pool.parallel_for(9, [&](int, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      pool.parallel_for(7, [&](int, int64_t ib, int64_t ie) {
        for (int64_t j = ib; j < ie; ++j) inner[static_cast<size_t>(i * 7 + j)].fetch_add(1);
      });
    }
  });
  for (auto& h : inner) EXPECT_EQ(h.load(), 1);

  std::vector<std::atomic<int64_t>> sums(2);
  auto caller = [&](size_t who) {
    for (int rep = 0; rep < 2000; ++rep) {
      pool.for_each_chunk(5, [&](int64_t c) { sums[who].fetch_add(c + 1); });
    }
  };
  std::thread other(caller, 1);
  caller(0);
  other.join();
  EXPECT_EQ(sums[0].load(), 2000 * 15);
  EXPECT_EQ(sums[1].load(), 2000 * 15);
}

// More tasks than one job word holds (24 bits) are split into several jobs.
TEST(ThreadPool, ForEachChunkBeyondOneJobsTaskLimit) {
  ThreadPool pool(2);
  const int64_t n = (int64_t{1} << 24) + 5;
  std::atomic<int64_t> sum{0};
  std::atomic<int64_t> count{0};
  pool.for_each_chunk(n, [&](int64_t c) {
    sum.fetch_add(c, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
  });
  EXPECT_EQ(count.load(), n);
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
}

TEST(ThreadPool, DefaultSizeIsHardwareConcurrency) {
  ThreadPool pool(0);
  EXPECT_GE(pool.n_threads(), 1);
}

}  // namespace
}  // namespace rs::engine
