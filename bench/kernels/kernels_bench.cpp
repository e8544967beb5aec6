// matmul throughput (GFLOP/s and weight GB/s) for the shapes of a 134M Llama model,
// F16 / Q8_0 / F32 / Q4_0 and the K-quant and legacy block types, n_tokens 1..512, on a 2-thread pool; plus dot/axpy.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <random>
#include <vector>

#include "rs/engine/kernels.h"
#include "rs/engine/thread_pool.h"

namespace {

using rs::engine::GgmlType;

int64_t row_bytes(GgmlType t, int64_t n) { return rs::engine::ggml_row_bytes(t, n); }

// RS_KERNEL_PATH=scalar|avx2|avx512 forces a kernel path (to compare paths).
const bool kPathForced = [] {
  const char* p = std::getenv("RS_KERNEL_PATH");
  const std::string v = p != nullptr ? p : "";
  if (v == "scalar") rs::engine::set_default_kernel_path(rs::engine::KernelPath::kScalar);
  if (v == "avx2") rs::engine::set_default_kernel_path(rs::engine::KernelPath::kAvx2);
  if (v == "avx512") rs::engine::set_default_kernel_path(rs::engine::KernelPath::kAvx512);
  return !v.empty();
}();

rs::engine::ThreadPool& pool() {
  static rs::engine::ThreadPool p(2);
  return p;
}

void run_matmul(benchmark::State& state, rs::engine::ThreadPool* tp) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t n_out = state.range(1);
  const int64_t n_in = state.range(2);
  const int64_t n_tok = state.range(3);
  const int64_t rb = row_bytes(type, n_in);
  std::vector<uint8_t> w(static_cast<size_t>(rb * n_out));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t o = 0; o < n_out; ++o) {
    for (auto& v : row) v = dist(rng);
    rs::engine::quantize_row(type, row.data(), w.data() + o * rb, n_in);
  }
  std::vector<float> x(static_cast<size_t>(n_tok * n_in));
  for (auto& v : x) v = dist(rng);
  std::vector<float> y(static_cast<size_t>(n_tok * n_out));
  const rs::engine::WeightView view{type, w.data(), n_in, n_out, rb};
  for (auto _ : state) {
    rs::engine::matmul(view, x.data(), n_tok, y.data(), tp);
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["GFLOPs"] = benchmark::Counter(2.0 * n_out * n_in * n_tok * iters / 1e9,
                                                benchmark::Counter::kIsRate);
  state.counters["GBs"] = benchmark::Counter(static_cast<double>(rb * n_out) * iters / 1e9,
                                             benchmark::Counter::kIsRate);
  state.SetLabel(std::string(rs::engine::ggml_type_name(type)));
}

// 2-thread pool, wall time (noisy when other processes share the CPU).
void BM_Matmul(benchmark::State& state) { run_matmul(state, &pool()); }
// Calling thread only, CPU time: per-core efficiency, robust to a loaded machine.
void BM_Matmul1T(benchmark::State& state) { run_matmul(state, nullptr); }

void matmul_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"type", "n_out", "n_in", "n_tok"});
  const int64_t shapes[][2] = {{768, 768}, {2048, 768}, {768, 2048}, {32000, 768}};
  for (auto t : {GgmlType::kF16, GgmlType::kQ8_0, GgmlType::kF32, GgmlType::kQ4_0, GgmlType::kQ4_K,
                 GgmlType::kQ6_K, GgmlType::kQ5_K, GgmlType::kQ3_K, GgmlType::kQ2_K, GgmlType::kQ5_0,
                 GgmlType::kQ4_1, GgmlType::kIQ4_NL}) {
    for (const auto& s : shapes) {
      for (int64_t n : {1, 4, 16, 512}) {
        if (s[0] == 32000 && n == 512) continue;  // the lm head runs on the last token only
        b->Args({static_cast<int64_t>(t), s[0], s[1], n});
      }
    }
  }
}
BENCHMARK(BM_Matmul)->Apply(matmul_args)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul1T)->Apply(matmul_args)->Unit(benchmark::kMicrosecond);

void BM_Dot(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<float> a(static_cast<size_t>(n), 0.5f);
  std::vector<float> b(static_cast<size_t>(n), 0.25f);
  for (auto _ : state) benchmark::DoNotOptimize(rs::engine::dot_f32(a.data(), b.data(), n));
}
BENCHMARK(BM_Dot)->Arg(64)->Arg(128);

void BM_Axpy(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<float> a(static_cast<size_t>(n), 0.5f);
  std::vector<float> b(static_cast<size_t>(n), 0.25f);
  for (auto _ : state) {
    rs::engine::axpy_f32(0.001f, a.data(), b.data(), n);
    benchmark::DoNotOptimize(b.data());
  }
}
BENCHMARK(BM_Axpy)->Arg(64)->Arg(128);

void BM_ParallelForOverhead(benchmark::State& state) {
  for (auto _ : state) {
    pool().parallel_for(2, [](int, int64_t, int64_t) {});
  }
}
BENCHMARK(BM_ParallelForOverhead)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
