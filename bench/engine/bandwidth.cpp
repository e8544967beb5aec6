// Memory bandwidth: every thread sums its slice of a buffer far larger than the caches.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "bench_common.h"

namespace rs::bench {
namespace {

uint64_t sum_slice(const uint64_t* p, int64_t n) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
    a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
  }
  for (; i < n; ++i) a0 += p[i];
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

#if defined(__x86_64__)
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
// 512-bit loads, 4 independent accumulators: one core can keep enough lines in flight.
__attribute__((target("avx512f"))) uint64_t sum_slice_avx512(const uint64_t* p, int64_t n) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(p + i));
    a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(p + i + 8));
    a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(p + i + 16));
    a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(p + i + 24));
  }
  uint64_t s = static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3))));
  for (; i < n; ++i) s += p[i];
  return s;
}
bool have_avx512() { return __builtin_cpu_supports("avx512f"); }
#else
uint64_t sum_slice_avx512(const uint64_t* p, int64_t n) { return sum_slice(p, n); }
bool have_avx512() { return false; }
#endif

}  // namespace

double measure_bandwidth_gbs(int n_threads, int64_t buffer_mib, int reps) {
  const int64_t n = buffer_mib * 1024 * 1024 / 8;
  std::unique_ptr<uint64_t[]> buf(new uint64_t[static_cast<size_t>(n)]);
  const int threads = std::max(1, n_threads);
  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  const bool wide = have_avx512();
  auto pass = [&](bool fill) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t, fill] {
        const int64_t b = n * t / threads, e = n * (t + 1) / threads;
        if (fill) {
          for (int64_t i = b; i < e; ++i) buf[static_cast<size_t>(i)] = static_cast<uint64_t>(i) * 0x9E3779B9u;
        } else {
          sums[static_cast<size_t>(t)] += wide ? sum_slice_avx512(buf.get() + b, e - b) : sum_slice(buf.get() + b, e - b);
        }
      });
    }
    for (auto& th : pool) th.join();
  };
  pass(true);  // first touch: fault the pages in
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pass(false);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n) * 8.0 / s / 1e9);
  }
  volatile uint64_t sink = 0;
  for (uint64_t v : sums) sink = sink + v;
  (void)sink;
  return best;
}

}  // namespace rs::bench
