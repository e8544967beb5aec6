// matmul throughput (GFLOP/s and weight GB/s) for the shapes of a 134M Llama model (one
// matrix at a time, cache-resident; and BM_MatmulModel: a whole step's weights streaming),
// F16 / Q8_0 / F32 / Q4_0 and the K-quant and legacy block types, n_tokens 1..512, on a 2-thread pool; plus dot/axpy.
#include <benchmark/benchmark.h>

#include <algorithm>
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

// The matmuls of one forward step of the 134M model (12 layers of QKV 2304x768, O 768x768,
// gate+up 4096x768, down 768x2048, then the 32000x768 LM head): ~110M weights, far more
// than the caches, so the weights stream from memory as in decode. One iteration = one
// step. Rows repeat a few distinct quantized rows (the values do not matter, the bytes
// read do). Compare GBs with BM_StreamRead (the same bytes read by the same pool).
struct ModelMats {
  GgmlType type = GgmlType::kF32;
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<rs::engine::WeightView> views;  // with their packed copies where the CPU has one
  std::vector<std::unique_ptr<uint8_t, decltype(&std::free)>> packed;
  int64_t total_bytes = 0;
};

const ModelMats& model_mats(GgmlType type) {
  static ModelMats m;
  if (!m.views.empty() && m.type == type) return m;
  m = ModelMats{};
  m.type = type;
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  auto add = [&](int64_t n_out, int64_t n_in) {
    const int64_t rb = row_bytes(type, n_in);
    constexpr int64_t kDistinct = 64;
    std::vector<uint8_t> rows(static_cast<size_t>(rb * kDistinct));
    std::vector<float> row(static_cast<size_t>(n_in));
    for (int64_t r = 0; r < kDistinct; ++r) {
      for (auto& v : row) v = dist(rng);
      rs::engine::quantize_row(type, row.data(), rows.data() + r * rb, n_in);
    }
    std::vector<uint8_t> w(static_cast<size_t>(rb * n_out));
    for (int64_t o = 0; o < n_out; ++o) std::copy_n(rows.data() + (o % kDistinct) * rb, rb, w.data() + o * rb);
    m.views.push_back(rs::engine::WeightView{type, nullptr, n_in, n_out, rb});
    m.total_bytes += rb * n_out;
    m.bytes.push_back(std::move(w));
  };
  for (int l = 0; l < 12; ++l) {
    add(3 * 768, 768);
    add(768, 768);
    add(2 * 2048, 768);
    add(768, 2048);
  }
  add(32000, 768);
  for (size_t i = 0; i < m.views.size(); ++i) {
    m.views[i].data = m.bytes[i].data();
    if (const int64_t bytes = rs::engine::packed_weight_bytes(m.views[i]); bytes > 0) {
      m.packed.emplace_back(static_cast<uint8_t*>(std::aligned_alloc(64, static_cast<size_t>(bytes))), &std::free);
      rs::engine::pack_weight(m.views[i], m.packed.back().get(), &pool());
      m.views[i].packed = m.packed.back().get();
    }
  }
  return m;
}

void BM_MatmulModel(benchmark::State& state) {
  const auto type = static_cast<GgmlType>(state.range(0));
  const int64_t n_tok = state.range(1);
  const bool packed = state.range(2) != 0;  // 0: the packed copies (Q4_K on AVX-512) unused
  const ModelMats& m = model_mats(type);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tok * 2048));
  for (auto& v : x) v = dist(rng);
  std::vector<float> y(static_cast<size_t>(n_tok * 32000));
  int64_t macs = 0;
  for (const auto& v : m.views) macs += v.n_out * v.n_in * n_tok;
  for (auto _ : state) {
    for (rs::engine::WeightView v : m.views) {
      if (!packed) v.packed = nullptr;
      rs::engine::matmul(v, x.data(), n_tok, y.data(), &pool());
    }
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["GFLOPs"] = benchmark::Counter(2.0 * static_cast<double>(macs) * iters / 1e9, benchmark::Counter::kIsRate);
  state.counters["GBs"] = benchmark::Counter(static_cast<double>(m.total_bytes) * iters / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(rs::engine::ggml_type_name(type)) + (packed && m.packed.size() > 0 ? " packed" : ""));
}
BENCHMARK(BM_MatmulModel)
    ->ArgNames({"type", "n_tok", "packed"})
    ->ArgsProduct({{static_cast<int64_t>(GgmlType::kF16), static_cast<int64_t>(GgmlType::kQ8_0),
                    static_cast<int64_t>(GgmlType::kQ4_0), static_cast<int64_t>(GgmlType::kQ4_K),
                    static_cast<int64_t>(GgmlType::kQ6_K)},
                   {1, 16},
                   {1}})
    ->Args({static_cast<int64_t>(GgmlType::kQ4_K), 1, 0})
    ->Args({static_cast<int64_t>(GgmlType::kQ4_K), 16, 0})
    ->Args({static_cast<int64_t>(GgmlType::kQ8_0), 1, 0})
    ->Args({static_cast<int64_t>(GgmlType::kQ8_0), 16, 0})
    ->Args({static_cast<int64_t>(GgmlType::kQ6_K), 1, 0})
    ->Args({static_cast<int64_t>(GgmlType::kQ6_K), 16, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The reference for BM_MatmulModel's GBs: the same weight bytes summed by the same pool.
void BM_StreamRead(benchmark::State& state) {
  const ModelMats& m = model_mats(static_cast<GgmlType>(state.range(0)));
  for (auto _ : state) {
    uint64_t sums[2] = {0, 0};
    for (const auto& w : m.bytes) {
      const auto n = static_cast<int64_t>(w.size() / 8);
      pool().parallel_for(n, [&](int t, int64_t b, int64_t e) {
        uint64_t s = 0;
        const auto* p = reinterpret_cast<const uint64_t*>(w.data());
        for (int64_t i = b; i < e; ++i) s += p[i];
        sums[t] += s;
      });
    }
    benchmark::DoNotOptimize(sums);
  }
  state.counters["GBs"] = benchmark::Counter(static_cast<double>(m.total_bytes) * static_cast<double>(state.iterations()) / 1e9,
                                             benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StreamRead)->ArgName("type")->Arg(static_cast<int64_t>(GgmlType::kQ8_0))->UseRealTime()->Unit(benchmark::kMillisecond);

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
