// RoPE, K/V writes and per-head causal attention over paged K/V blocks.
#include "attention.h"

#include "attention_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rs::engine {

void rope_tables(const RopeParams& p, int32_t pos, float* cos_out, float* sin_out) {
  // ggml: theta_i = pos * base^(-2i/n_dims), accumulated by repeated multiplication.
  const float theta_scale = std::pow(p.base, -2.0f / static_cast<float>(p.rope_dims));
  float theta = static_cast<float>(pos);
  for (int i = 0; i < p.rope_dims / 2; ++i) {
    const float t = p.freq_scale * theta;
    cos_out[i] = std::cos(t);
    sin_out[i] = std::sin(t);
    theta *= theta_scale;
  }
}

void rope_apply(const RopeParams& p, float* x, int n_heads, int head_dim, const float* cos_v,
                const float* sin_v) {
  const int half = p.rope_dims / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* xh = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const int i0 = p.neox ? i : 2 * i;
      const int i1 = p.neox ? i + half : 2 * i + 1;
      const float x0 = xh[i0];
      const float x1 = xh[i1];
      xh[i0] = x0 * cos_v[i] - x1 * sin_v[i];
      xh[i1] = x0 * sin_v[i] + x1 * cos_v[i];
    }
  }
}

void kv_store(KvCache& kv, int layer, std::span<const BlockId> blocks, int32_t pos, const float* k,
              const float* v) {
  const int bt = kv.config().block_tokens;
  const BlockId block = blocks[static_cast<size_t>(pos / bt)];
  const int64_t row = kv.row_elems();
  const int64_t slot = static_cast<int64_t>(pos % bt) * row;
  if (kv.config().type == KvCacheType::kF32) {
    std::memcpy(static_cast<float*>(kv.k(block, layer)) + slot, k, static_cast<size_t>(row) * sizeof(float));
    std::memcpy(static_cast<float*>(kv.v(block, layer)) + slot, v, static_cast<size_t>(row) * sizeof(float));
    return;
  }
  uint16_t* kd = static_cast<uint16_t*>(kv.k(block, layer)) + slot;
  uint16_t* vd = static_cast<uint16_t*>(kv.v(block, layer)) + slot;
  // fp16, rounded to nearest even: F16C and fp32_to_fp16 agree bit for bit.
  if (cpu_has_avx2_fma_f16c()) {
    attn::store_f16_avx2(k, kd, row);
    attn::store_f16_avx2(v, vd, row);
    return;
  }
  for (int64_t i = 0; i < row; ++i) {
    kd[i] = fp32_to_fp16(k[i]);
    vd[i] = fp32_to_fp16(v[i]);
  }
}

namespace attn {

namespace {

inline float to_f32(float x) { return x; }
inline float to_f32(uint16_t h) { return fp16_to_fp32(h); }

}  // namespace

template <class T>
void qk_rows_scalar(const float* q, const T* k, int64_t stride, int m, int head_dim, float scale, float* out) {
  for (int j = 0; j < m; ++j) {
    const T* kj = k + j * stride;
    float sum = 0.0f;
    for (int d = 0; d < head_dim; ++d) sum += q[d] * to_f32(kj[d]);
    out[j] = sum * scale;
  }
}

template <class T>
void av_rows_scalar(const float* w, const T* v, int64_t stride, int m, int head_dim, float* acc) {
  for (int j = 0; j < m; ++j) {
    const T* vj = v + j * stride;
    for (int d = 0; d < head_dim; ++d) acc[d] += w[j] * to_f32(vj[d]);
  }
}

template <class T>
void qk_multi_scalar(const float* const* q, int n_q, const T* k, int64_t stride, int m, int head_dim,
                     float scale, float* const* out) {
  for (int i = 0; i < n_q; ++i) qk_rows_scalar(q[i], k, stride, m, head_dim, scale, out[i]);
}

template <class T>
void av_multi_scalar(const float* const* w, int n_q, const T* v, int64_t stride, int m, int head_dim,
                     float* const* acc) {
  for (int i = 0; i < n_q; ++i) av_rows_scalar(w[i], v, stride, m, head_dim, acc[i]);
}

}  // namespace attn

bool attention_uses_avx2(KernelPath path, int head_dim) {
  return resolve_kernel_path(path) != KernelPath::kScalar && cpu_has_avx2_fma_f16c() && head_dim % 8 == 0;
}

namespace {

// The K (kv = 0) or V rows of a block and layer, at head offset off, as the cache's type T.
template <class T>
const T* kv_rows(const KvCache& kv, BlockId block, int layer, int which, int64_t off) {
  return static_cast<const T*>(which == 0 ? kv.k(block, layer) : kv.v(block, layer)) + off;
}

template <class T>
void attend_group_t(const KvCache& kv, int layer, std::span<const BlockId> blocks, int32_t pos0, int n_q, int head,
                    const AttnGeometry& g, const AttnBuffers& buf) {
  const int bt = kv.config().block_tokens;
  const int64_t row = kv.row_elems();
  const int64_t off = static_cast<int64_t>(head / (g.n_heads / g.n_kv_heads)) * g.head_dim;
  auto* qk = g.avx2 ? attn::qk_multi_avx2<T> : attn::qk_multi_scalar<T>;
  auto* av = g.avx2 ? attn::av_multi_avx2<T> : attn::av_multi_scalar<T>;
  const float* q[attn::kMaxQueries];
  float* w[attn::kMaxQueries];
  float* out[attn::kMaxQueries];
  for (int i = 0; i < n_q; ++i) {
    q[i] = buf.q + i * buf.q_stride;
    w[i] = buf.scores + i * buf.scores_stride;
    out[i] = buf.out + i * buf.out_stride;
  }
  // Scores of every query against rows 0..last position (the extra ones are unused).
  const int n_all = pos0 + n_q;
  for (int p0 = 0, b = 0; p0 < n_all; p0 += bt, ++b) {
    const T* kb = kv_rows<T>(kv, blocks[static_cast<size_t>(b)], layer, 0, off);
    float* wb[attn::kMaxQueries];
    for (int i = 0; i < n_q; ++i) wb[i] = w[i] + p0;
    qk(q, n_q, kb, row, std::min(bt, n_all - p0), g.head_dim, g.scale, wb);
  }
  for (int i = 0; i < n_q; ++i) {
    softmax_inplace(w[i], pos0 + i + 1);
    std::fill(out[i], out[i] + g.head_dim, 0.0f);
  }
  // Rows every query sees go through the joint kernel; each query's tail alone.
  const int n_common = pos0 + 1;
  for (int p0 = 0, b = 0; p0 < n_all; p0 += bt, ++b) {
    const T* vb = kv_rows<T>(kv, blocks[static_cast<size_t>(b)], layer, 1, off);
    const int m = std::min(bt, n_all - p0);
    if (p0 + m <= n_common) {
      float* wb[attn::kMaxQueries];
      for (int i = 0; i < n_q; ++i) wb[i] = w[i] + p0;
      av(wb, n_q, vb, row, m, g.head_dim, out);
      continue;
    }
    for (int i = 0; i < n_q; ++i) {
      const int mi = std::min(m, pos0 + i + 1 - p0);
      if (mi > 0) {
        const float* wi = w[i] + p0;
        av(&wi, 1, vb, row, mi, g.head_dim, &out[i]);
      }
    }
  }
}

template <class T>
void attend_heads_t(const KvCache& kv, int layer, std::span<const BlockId> blocks, int32_t pos, int h0, int h1,
                    const AttnGeometry& g, const AttnBuffers& buf) {
  const int bt = kv.config().block_tokens;
  attn::HeadsArgs a;
  a.q = buf.q;
  a.h0 = h0;
  a.h1 = h1;
  a.group = g.n_heads / g.n_kv_heads;
  a.head_dim = g.head_dim;
  a.stride = kv.row_elems();
  a.scale = g.scale;
  const int n = h1 - h0;
  float* w[kMaxAttendHeads];
  for (int i = 0; i < n; ++i) w[i] = buf.scores + i * buf.scores_stride;
  const int n_all = pos + 1;
  for (int p0 = 0, b = 0; p0 < n_all; p0 += bt, ++b) {
    float* wb[kMaxAttendHeads];
    for (int i = 0; i < n; ++i) wb[i] = w[i] + p0;
    attn::qk_heads_avx2(a, kv_rows<T>(kv, blocks[static_cast<size_t>(b)], layer, 0, 0), std::min(bt, n_all - p0), wb);
  }
  for (int i = 0; i < n; ++i) softmax_inplace(w[i], n_all);
  std::fill(buf.out + int64_t{h0} * g.head_dim, buf.out + int64_t{h1} * g.head_dim, 0.0f);
  for (int p0 = 0, b = 0; p0 < n_all; p0 += bt, ++b) {
    const float* wb[kMaxAttendHeads];
    for (int i = 0; i < n; ++i) wb[i] = w[i] + p0;
    attn::av_heads_avx2(a, wb, kv_rows<T>(kv, blocks[static_cast<size_t>(b)], layer, 1, 0), std::min(bt, n_all - p0),
                        buf.out);
  }
}

}  // namespace

void attend_group(const KvCache& kv, int layer, std::span<const BlockId> blocks, int32_t pos0, int n_q, int head,
                  const AttnGeometry& g, const AttnBuffers& buf) {
  if (kv.config().type == KvCacheType::kF32) {
    attend_group_t<float>(kv, layer, blocks, pos0, n_q, head, g, buf);
  } else {
    attend_group_t<uint16_t>(kv, layer, blocks, pos0, n_q, head, g, buf);
  }
}

void attend_heads(const KvCache& kv, int layer, std::span<const BlockId> blocks, int32_t pos, int h0, int h1,
                  const AttnGeometry& g, const AttnBuffers& buf) {
  if (kv.config().type == KvCacheType::kF32) {
    attend_heads_t<float>(kv, layer, blocks, pos, h0, h1, g, buf);
  } else {
    attend_heads_t<uint16_t>(kv, layer, blocks, pos, h0, h1, g, buf);
  }
}

}  // namespace rs::engine
