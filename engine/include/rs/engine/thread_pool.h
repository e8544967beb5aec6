// ThreadPool: a fixed set of worker threads for data-parallel kernels (matmul, attention).
// Owned by one Engine; only the engine thread may call parallel_for (it takes part in
// the work itself, so a pool of n threads starts n-1 workers). Tasks are claimed
// dynamically: a task index runs exactly once, but not necessarily on "its" thread (the
// caller takes over tasks of a worker the OS has not scheduled yet). Every call returns
// only after each of its tasks has finished and no worker can start another of them, so
// fn and what it captures by reference may live on the caller's stack. Idle workers spin
// for a few hundred microseconds, then sleep.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace rs::engine {

class ThreadPool {
 public:
  // n_threads <= 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const;
  // Calls fn(thread_index, begin, end) over [0, n) split into contiguous chunks, one per
  // thread, and returns when all are done. thread_index < n_threads().
  void parallel_for(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn);
  // Calls fn(thread_index) once for every thread_index < n_threads(); the calls run
  // concurrently, each index exactly once (per-index scratch is safe).
  void run_on_all(const std::function<void(int)>& fn);
  // Calls fn(chunk) for every chunk in [0, n_chunks); threads claim chunks dynamically.
  void for_each_chunk(int64_t n_chunks, const std::function<void(int64_t)>& fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::engine
