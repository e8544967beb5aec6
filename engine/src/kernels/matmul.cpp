// matmul front end: picks the path, quantizes the activations once per call for the
// quantized weight types, and splits output rows across the pool.
#include <algorithm>
#include <cstring>
#include <vector>

#include "blockdot.h"
#include "kernels_internal.h"
#include "rs/engine/thread_pool.h"
#include "weight_pack.h"

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

// Block-dot types: x quantized into the type's activation blocks (calling thread's scratch).
kern::BlockAct prepare_block_activations(const WeightView& w, const float* x, int64_t n_tokens,
                                         ThreadPool* pool) {
  thread_local std::vector<uint8_t> scratch;
  kern::BlockAct act;
  act.n_blocks = w.n_in / kern::weight_block_elems(w.type);
  act.row_bytes = kern::act_row_bytes(w.type, act.n_blocks);
  act.pair_offset = kern::act_pair_offset(act.n_blocks);
  const auto bytes = static_cast<size_t>(act.row_bytes * n_tokens + 64);
  if (scratch.size() < bytes) scratch.resize(bytes);
  act.data = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) & ~uintptr_t{63});
  if (pool != nullptr && pool->n_threads() > 1 && n_tokens >= 16) {
    pool->parallel_for(n_tokens, [&](int, int64_t t0, int64_t t1) {
      kern::quantize_block_act(w.type, x, w.n_in, t0, t1, act);
    });
  } else {
    kern::quantize_block_act(w.type, x, w.n_in, 0, n_tokens, act);
  }
  return act;
}

}  // namespace

namespace {

// The shared part of matmul and matmul_multi: x prepared once (quantized or aligned) for
// every matrix of ws (same type and n_in), then each matrix's output rows cut into a few
// chunks per thread, all claimed from one pool dispatch. Returns false (nothing done)
// for a malformed quantized row length.
bool run_matmuls(const WeightView* ws, int n, const float* x, int64_t n_tokens, float* const* ys,
                 ThreadPool* pool, KernelPath path) {
  const WeightView& w0 = ws[0];
  const kern::MatmulPath mp = path_for(path);
  kern::MatmulArgs base;
  base.x = x;
  base.x_stride = w0.n_in;
  base.n_tokens = n_tokens;
  kern::BlockAct bact;
  const bool block_dot = kern::is_block_dot(w0.type);
  if (block_dot) {
    if (w0.n_in % kern::weight_block_elems(w0.type) != 0) return false;  // not a valid ggml row
    bact = prepare_block_activations(w0, x, n_tokens, pool);
    base.bact = &bact;
  } else if (kern::is_quant(w0.type)) {
    if (w0.n_in % kern::kQBlock != 0) return false;  // not a valid ggml row
    base.act = prepare_activations(mp, w0, x, n_tokens, pool);
  } else if (n_tokens >= kAlignMinTokens && resolve_kernel_path(path) != KernelPath::kScalar) {
    base.x = align_activations(x, w0.n_in, n_tokens, &base.x_stride);
  }
  constexpr int kMaxMats = 8;
  int64_t first_chunk[kMaxMats + 1] = {0};
  int64_t n_blocks[kMaxMats] = {0};
  // A packed matrix's chunks are whole groups of interleaved rows.
  auto align_of = [&](const WeightView& w) { return w.packed != nullptr ? kern::kPackRows : mp.row_align; };
  const int64_t n_threads = pool == nullptr ? 1 : pool->n_threads();
  int64_t total_out = 0;
  for (int i = 0; i < n; ++i) total_out += ws[i].n_out;
  // A few chunks per thread overall, claimed dynamically (balances threads the OS
  // delays), shared out in proportion to each matrix's rows.
  for (int i = 0; i < n; ++i) {
    n_blocks[i] = (ws[i].n_out + align_of(ws[i]) - 1) / align_of(ws[i]);
    const int64_t want = (n_threads * kChunksPerThread * ws[i].n_out + total_out - 1) / total_out;
    first_chunk[i + 1] = first_chunk[i] + std::clamp<int64_t>(want, 1, n_blocks[i]);
  }
  auto chunk = [&](int64_t c) {
    int i = 0;
    while (c >= first_chunk[i + 1]) ++i;
    const int64_t nc = first_chunk[i + 1] - first_chunk[i];
    const int64_t k = c - first_chunk[i];
    kern::MatmulArgs a = base;
    a.w = ws[i];
    a.y = ys[i];
    const int64_t align = align_of(ws[i]);
    const int64_t r0 = n_blocks[i] * k / nc * align;
    const int64_t r1 = std::min(n_blocks[i] * (k + 1) / nc * align, ws[i].n_out);
    (block_dot ? mp.block_rows : mp.rows)(a, r0, r1);
  };
  const int64_t n_chunks = first_chunk[n];
  if (pool == nullptr || n_chunks <= 1) {
    for (int64_t c = 0; c < n_chunks; ++c) chunk(c);
  } else {
    pool->for_each_chunk(n_chunks, chunk);
  }
  return true;
}

}  // namespace

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool,
            KernelPath path) {
  if (n_tokens <= 0 || w.n_out <= 0 || w.n_in <= 0) return;
  if (!run_matmuls(&w, 1, x, n_tokens, &y, pool, path)) std::fill(y, y + n_tokens * w.n_out, 0.0f);
}

void matmul_multi(const WeightView* ws, int n, const float* x, int64_t n_tokens, float* const* ys,
                  ThreadPool* pool, KernelPath path) {
  if (n <= 0 || n_tokens <= 0) return;
  bool fused = n <= 8 && ws[0].n_in > 0;
  for (int i = 0; i < n && fused; ++i) {
    // K-quants share their activations (Q8_K): a Q4_K_M attention's Q6_K attn_v fuses too.
    const bool same_act = ws[i].type == ws[0].type || (kern::is_k_quant(ws[i].type) && kern::is_k_quant(ws[0].type));
    fused = same_act && ws[i].n_in == ws[0].n_in && ws[i].n_out > 0;
  }
  if (fused && run_matmuls(ws, n, x, n_tokens, ys, pool, path)) return;
  for (int i = 0; i < n; ++i) matmul(ws[i], x, n_tokens, ys[i], pool, path);
}

}  // namespace rs::engine
