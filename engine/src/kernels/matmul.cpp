// matmul front end: picks the path, quantizes the activations once per call for the
// quantized weight types, and splits output rows across the pool.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels_internal.h"
#include "rs/engine/thread_pool.h"

namespace rs::engine {

namespace {

constexpr int64_t kChunksPerThread = 4;
constexpr int64_t kAlignMinTokens = 8;

kern::MatmulPath path_for(KernelPath path) {
  switch (resolve_kernel_path(path)) {
    case KernelPath::kAvx512:
      return kern::matmul_path_avx512();
    case KernelPath::kAvx2:
      return kern::matmul_path_avx2();
    default:
      return kern::matmul_path_scalar();
  }
}

// Quantizes x into the calling thread's scratch (split over the pool for big batches).
kern::QuantAct prepare_activations(const kern::MatmulPath& mp, const WeightView& w,
                                   const float* x, int64_t n_tokens, ThreadPool* pool) {
  thread_local std::vector<uint8_t> scratch;
  const size_t bytes = kern::quant_act_bytes(w.n_in, n_tokens);
  if (scratch.size() < bytes) scratch.resize(bytes);
  kern::QuantAct act = kern::quant_act_layout(scratch.data(), w.n_in, n_tokens);
  if (pool != nullptr && pool->n_threads() > 1 && n_tokens >= 16) {
    pool->parallel_for(n_tokens, [&](int, int64_t t0, int64_t t1) {
      mp.prepare(w.type, x, w.n_in, t0, t1, act);
    });
  } else {
    mp.prepare(w.type, x, w.n_in, 0, n_tokens, act);
  }
  return act;
}

// Float weights, many tokens: the SIMD tiles want 64-byte aligned activation rows (an
// unaligned 64-byte load splits cache lines), so copy x once per call when needed.
const float* align_activations(const float* x, int64_t n_in, int64_t n_tokens,
                               int64_t* stride) {
  *stride = n_in;
  if (reinterpret_cast<uintptr_t>(x) % 64 == 0 && n_in % 16 == 0) return x;
  thread_local std::vector<float> buf;
  const int64_t s = (n_in + 15) / 16 * 16;
  if (buf.size() < static_cast<size_t>(s * n_tokens + 16)) buf.resize(static_cast<size_t>(s * n_tokens + 16));
  auto* p = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63});
  for (int64_t t = 0; t < n_tokens; ++t) {
    std::memcpy(p + t * s, x + t * n_in, static_cast<size_t>(n_in) * sizeof(float));
  }
  *stride = s;
  return p;
}

}  // namespace

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool,
            KernelPath path) {
  if (n_tokens <= 0 || w.n_out <= 0 || w.n_in <= 0) return;
  const kern::MatmulPath mp = path_for(path);
  kern::MatmulArgs a;
  a.w = w;
  a.x = x;
  a.x_stride = w.n_in;
  a.n_tokens = n_tokens;
  a.y = y;
  if (kern::is_quant(w.type)) {
    if (w.n_in % kern::kQBlock != 0) {  // not a valid ggml row: callers validate shapes
      std::fill(y, y + n_tokens * w.n_out, 0.0f);
      return;
    }
    a.act = prepare_activations(mp, w, x, n_tokens, pool);
  } else if (n_tokens >= kAlignMinTokens && resolve_kernel_path(path) != KernelPath::kScalar) {
    a.x = align_activations(x, w.n_in, n_tokens, &a.x_stride);
  }
  // A few chunks per thread, claimed dynamically: balances threads the OS delays.
  const int64_t align = mp.row_align;
  const int64_t n_blocks = (w.n_out + align - 1) / align;
  const int64_t n_threads = pool == nullptr ? 1 : pool->n_threads();
  const int64_t n_chunks = std::min(n_blocks, n_threads * kChunksPerThread);
  if (pool == nullptr || n_chunks <= 1) {
    mp.rows(a, 0, w.n_out);
    return;
  }
  pool->for_each_chunk(n_chunks, [&](int64_t c) {
    const int64_t r0 = n_blocks * c / n_chunks * align;
    const int64_t r1 = std::min(n_blocks * (c + 1) / n_chunks * align, w.n_out);
    mp.rows(a, r0, r1);
  });
}

}  // namespace rs::engine
