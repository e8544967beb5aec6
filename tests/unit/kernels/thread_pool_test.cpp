#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "rs/engine/thread_pool.h"

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

TEST(ThreadPool, DefaultSizeIsHardwareConcurrency) {
  ThreadPool pool(0);
  EXPECT_GE(pool.n_threads(), 1);
}

}  // namespace
}  // namespace rs::engine
