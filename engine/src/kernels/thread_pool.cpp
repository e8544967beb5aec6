// ThreadPool: one job at a time, split into tasks claimed through a packed atomic
// (generation << 32 | next task). Workers spin on the generation for a short while after
// each job (a decode step issues jobs microseconds apart), then sleep on a condition
// variable. The caller claims tasks too and then waits for the tasks still in flight.
#include "rs/engine/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace rs::engine {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

constexpr auto kSpinBeforeSleep = std::chrono::microseconds(300);
constexpr int kPauseSpins = 2000;  // then spin with yield (lets other processes run)

using TaskFn = std::function<void(int64_t)>;

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<uint64_t> state{0};  // generation << 32 | next unclaimed task
  std::atomic<int64_t> n_tasks{0};
  std::atomic<int64_t> done{0};
  std::atomic<int> n_sleeping{0};
  std::atomic<bool> stop{false};
  std::atomic<const TaskFn*> job{nullptr};
  uint32_t generation = 0;  // caller side only

  static uint32_t gen_of(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
  bool claim(uint32_t gen, int64_t* task);
  void work(uint32_t gen);
  uint32_t wait_for_job(uint32_t seen);
  void worker_loop();
  void run(int64_t tasks, const TaskFn& fn);
};

// Claims the next task of job `gen`; false when the job changed or has no task left.
bool ThreadPool::Impl::claim(uint32_t gen, int64_t* task) {
  uint64_t v = state.load(std::memory_order_acquire);
  for (;;) {
    if (gen_of(v) != gen) return false;
    const auto i = static_cast<int64_t>(v & 0xffffffffu);
    if (i >= n_tasks.load(std::memory_order_relaxed)) return false;
    if (state.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) {
      *task = i;
      return true;
    }
  }
}

void ThreadPool::Impl::work(uint32_t gen) {
  int64_t task = 0;
  while (claim(gen, &task)) {
    (*job.load(std::memory_order_relaxed))(task);
    done.fetch_add(1, std::memory_order_release);
  }
}

// Returns the new generation, or `seen` when the pool is stopping.
uint32_t ThreadPool::Impl::wait_for_job(uint32_t seen) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  for (int i = 0;; ++i) {
    const uint32_t g = gen_of(state.load(std::memory_order_acquire));
    if (g != seen) return g;
    if (stop.load(std::memory_order_relaxed)) return seen;
    if (i < kPauseSpins) {
      cpu_relax();
    } else {
      std::this_thread::yield();
      if (std::chrono::steady_clock::now() > deadline) break;
    }
  }
  std::unique_lock<std::mutex> lock(mu);
  n_sleeping.fetch_add(1);
  cv.wait(lock, [&] { return gen_of(state.load()) != seen || stop.load(); });
  n_sleeping.fetch_sub(1);
  return gen_of(state.load());
}

void ThreadPool::Impl::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    const uint32_t g = wait_for_job(seen);
    if (stop.load()) return;
    seen = g;
    work(g);
  }
}

void ThreadPool::Impl::run(int64_t tasks, const TaskFn& fn) {
  job.store(&fn, std::memory_order_relaxed);
  n_tasks.store(tasks, std::memory_order_relaxed);
  done.store(0, std::memory_order_relaxed);
  const uint32_t gen = ++generation;
  state.store(static_cast<uint64_t>(gen) << 32);  // seq_cst: pairs with n_sleeping
  if (n_sleeping.load() > 0) {
    { std::lock_guard<std::mutex> lock(mu); }
    cv.notify_all();
  }
  work(gen);
  for (int i = 0; done.load(std::memory_order_acquire) < tasks; ++i) {
    if (i < kPauseSpins) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

ThreadPool::ThreadPool(int n_threads) : impl_(std::make_unique<Impl>()) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
  if (n_threads <= 0) n_threads = 1;
  impl_->n_threads = n_threads;
  impl_->workers.reserve(static_cast<size_t>(n_threads - 1));
  for (int i = 1; i < n_threads; ++i) {
    impl_->workers.emplace_back([impl = impl_.get()] { impl->worker_loop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop.store(true);
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

int ThreadPool::n_threads() const { return impl_->n_threads; }

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
  const int nt = impl_->n_threads;
  if (nt == 1) {
    fn(0);
    return;
  }
  const TaskFn task = [&](int64_t i) { fn(static_cast<int>(i)); };
  impl_->run(nt, task);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t nt = std::min<int64_t>(impl_->n_threads, n);
  if (nt == 1) {
    fn(0, 0, n);
    return;
  }
  const TaskFn task = [&](int64_t i) { fn(static_cast<int>(i), n * i / nt, n * (i + 1) / nt); };
  impl_->run(nt, task);
}

void ThreadPool::for_each_chunk(int64_t n_chunks, const std::function<void(int64_t)>& fn) {
  if (n_chunks <= 0) return;
  if (impl_->n_threads == 1 || n_chunks == 1) {
    for (int64_t i = 0; i < n_chunks; ++i) fn(i);
    return;
  }
  const int64_t max_tasks = int64_t{1} << 31;
  for (int64_t base = 0; base < n_chunks; base += max_tasks) {
    const int64_t count = std::min(max_tasks, n_chunks - base);
    const TaskFn task = [&](int64_t i) { fn(base + i); };
    impl_->run(count, task);
  }
}

}  // namespace rs::engine
