// ThreadPool: one job at a time, split into tasks claimed through ONE packed atomic word
// (generation | task count | next task). Workers spin on the generation for a short while
// after each job (a decode step issues jobs microseconds apart), then sleep on a condition
// variable. The caller claims tasks too and then waits for the tasks still in flight.
//
// Why one word: a claim must be checked against the task count of the job it claims from.
// With the count in a separate atomic, a worker finishing job A could read A's generation
// and next index together with job B's (larger) count while the caller was publishing B,
// claim task "A.n_tasks" of a job that had none left, run a dangling or foreign function
// and count it as done for B, so that B's caller returned while B's last task still ran on
// the pool (the attend_decode crash of issue 11). A compare-exchange on the packed word
// succeeds only if generation, count and next index are still those of one live job.
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

// The state word: generation (16 bits) | task count (24 bits) | next unclaimed task (24
// bits). A generation that wraps around is harmless: a claim is valid whenever the word it
// compares against is the live job's, whatever generation number it carries.
constexpr int kTaskBits = 24;
constexpr uint64_t kTaskMask = (uint64_t{1} << kTaskBits) - 1;
constexpr int64_t kMaxTasksPerJob = static_cast<int64_t>(kTaskMask);

constexpr uint64_t pack_state(uint32_t gen, int64_t n_tasks) {
  return (static_cast<uint64_t>(gen & 0xffffu) << (2 * kTaskBits)) |
         (static_cast<uint64_t>(n_tasks) << kTaskBits);
}
constexpr uint32_t gen_of(uint64_t v) {
  return static_cast<uint32_t>(v >> (2 * kTaskBits));
}
constexpr int64_t count_of(uint64_t v) {
  return static_cast<int64_t>((v >> kTaskBits) & kTaskMask);
}
constexpr int64_t next_of(uint64_t v) {
  return static_cast<int64_t>(v & kTaskMask);
}

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<uint64_t> state{0};  // pack_state(generation, tasks) + next unclaimed task
  std::atomic<int64_t> done{0};    // tasks of the live job finished
  std::atomic<int> n_sleeping{0};
  std::atomic<bool> stop{false};
  std::atomic<const TaskFn*> job{nullptr};
  std::atomic<bool> busy{false};  // a caller owns the pool (its job is live)
  uint32_t generation = 0;        // the owning caller only (16 bits used)

  bool claim(uint32_t gen, int64_t* task);
  void work(uint32_t gen);
  uint32_t wait_for_job(uint32_t seen);
  void worker_loop();
  void run(int64_t tasks, const TaskFn& fn);
};

// Claims the next task of job `gen`; false when the job changed or has no task left. The
// count compared against is the one packed with the generation and index (see the top).
bool ThreadPool::Impl::claim(uint32_t gen, int64_t* task) {
  uint64_t v = state.load(std::memory_order_acquire);
  for (;;) {
    if (gen_of(v) != gen) return false;
    const int64_t i = next_of(v);
    if (i >= count_of(v)) return false;
    if (state.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      *task = i;
      return true;
    }
  }
}

// Set while this thread runs a pool task (of any pool).
thread_local bool tl_in_task = false;

void ThreadPool::Impl::work(uint32_t gen) {
  int64_t task = 0;
  while (claim(gen, &task)) {
    tl_in_task = true;
    (*job.load(std::memory_order_relaxed))(task);
    tl_in_task = false;
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

// Every task of the previous job has finished (the caller waited for them), so no worker
// reads `job` or adds to `done` until it claims a task of this job from the new word.
// A call from inside a pool task, or while another thread's job is live (both outside the
// contract: the engine thread alone calls its pool), runs its tasks on the calling thread
// one after another instead of overwriting the live job.
void ThreadPool::Impl::run(int64_t tasks, const TaskFn& fn) {
  if (tl_in_task || busy.exchange(true, std::memory_order_acquire)) {
    for (int64_t i = 0; i < tasks; ++i) fn(i);
    return;
  }
  job.store(&fn, std::memory_order_relaxed);
  done.store(0, std::memory_order_relaxed);
  const uint32_t gen = ++generation & 0xffffu;
  state.store(pack_state(gen, tasks));  // seq_cst: pairs with n_sleeping; publishes job
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
  busy.store(false, std::memory_order_release);
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

int ThreadPool::n_threads() const {
  return impl_->n_threads;
}

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
  const int64_t max_tasks = kMaxTasksPerJob;
  for (int64_t base = 0; base < n_chunks; base += max_tasks) {
    const int64_t count = std::min(max_tasks, n_chunks - base);
    const TaskFn task = [&](int64_t i) { fn(base + i); };
    impl_->run(count, task);
  }
}

}  // namespace rs::engine
