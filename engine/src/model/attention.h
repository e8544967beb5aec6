// Attention building blocks of the forward pass: RoPE tables and rotation, K/V writes
// into a sequence's paged blocks, and causal attention of one query head over the
// sequence's cached positions. Pure functions; called from the engine thread and from
// its ThreadPool workers (each on disjoint outputs).
#pragma once

#include <cstdint>
#include <span>

#include "attention_kernels.h"
#include "rs/engine/kernels.h"
#include "rs/engine/kv_cache.h"

namespace rs::engine {

struct RopeParams {
  int rope_dims = 0;
  float base = 10000.0f;
  float freq_scale = 1.0f;
  bool neox = false;
};

// cos/sin of the rope_dims/2 rotation angles at position pos (as ggml computes them).
void rope_tables(const RopeParams& p, int32_t pos, float* cos_out, float* sin_out);
// Rotates the first rope_dims dims of each of n_heads heads (head_dim floats apart).
void rope_apply(const RopeParams& p, float* x, int n_heads, int head_dim, const float* cos_v,
                const float* sin_v);

// Writes one token's K and V rows (n_kv_heads*head_dim floats) at position pos.
void kv_store(KvCache& kv, int layer, std::span<const BlockId> blocks, int32_t pos, const float* k,
              const float* v);

struct AttnGeometry {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  bool avx2 = false;  // use the AVX2/FMA inner loops (see attention_uses_avx2)
};

// Whether attention runs the AVX2 inner loops for this kernel path and head size.
bool attention_uses_avx2(KernelPath path, int head_dim);

// n_q consecutive query tokens of one sequence, one head: query i at row i of q (q_stride
// floats apart) and position pos0+i; scores rows hold pos0+n_q floats each.
struct AttnBuffers {
  const float* q = nullptr;
  int64_t q_stride = 0;
  float* scores = nullptr;
  int64_t scores_stride = 0;
  float* out = nullptr;
  int64_t out_stride = 0;
};

// out_i[head_dim] = softmax(scale * q_i . K[0..pos0+i]) . V[0..pos0+i] for query head
// `head`, n_q <= attn::kMaxQueries. Each query's result depends only on its own data and
// position, never on n_q (reductions run in the same order).
void attend_group(const KvCache& kv, int layer, std::span<const BlockId> blocks, int32_t pos0, int n_q, int head,
                  const AttnGeometry& g, const AttnBuffers& buf);

// One query token (position pos) against query heads [h0, h1) (h1 - h0 <= kMaxAttendHeads),
// each K/V row read once for all of them; AVX2 only (g.avx2). buf.q and buf.out point at
// head 0 of the token's rows; scores rows (scores_stride apart) for each head. Results
// bit-identical to attend_group's for the same query and head.
constexpr int kMaxAttendHeads = 256;
void attend_heads(const KvCache& kv, int layer, std::span<const BlockId> blocks, int32_t pos, int h0, int h1,
                  const AttnGeometry& g, const AttnBuffers& buf);

}  // namespace rs::engine
