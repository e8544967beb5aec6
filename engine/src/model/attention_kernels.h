// Inner loops of attention over one block's rows of K or V (rows `stride` elements apart;
// T = float for an f32 cache, uint16_t for fp16 bits, instantiated for both):
// a portable version and an AVX2/FMA version (attention_avx2.cpp, used when the CPU has
// it). Each output element's reduction order is fixed by the data alone, so a result
// never depends on how many rows a call covers. Callable from any thread.
#pragma once

#include <cstdint>

namespace rs::engine::attn {

// out[j] = scale * dot(q, k + j*stride) for j < m.
template <class T>
void qk_rows_scalar(const float* q, const T* k, int64_t stride, int m, int head_dim, float scale, float* out);
// acc[d] += sum_j w[j] * v[j*stride + d], j ascending.
template <class T>
void av_rows_scalar(const float* w, const T* v, int64_t stride, int m, int head_dim, float* acc);

// head_dim must be a multiple of 8.
template <class T>
void qk_rows_avx2(const float* q, const T* k, int64_t stride, int m, int head_dim, float scale, float* out);
template <class T>
void av_rows_avx2(const float* w, const T* v, int64_t stride, int m, int head_dim, float* acc);

// The same for n_q <= kMaxQueries queries at once (K/V rows read once for all): out[a]
// and acc[a] get bit for bit what the single-query functions give for query a.
constexpr int kMaxQueries = 4;
template <class T>
void qk_multi_scalar(const float* const* q, int n_q, const T* k, int64_t stride, int m, int head_dim,
                     float scale, float* const* out);
template <class T>
void av_multi_scalar(const float* const* w, int n_q, const T* v, int64_t stride, int m, int head_dim,
                     float* const* acc);
template <class T>
void qk_multi_avx2(const float* const* q, int n_q, const T* k, int64_t stride, int m, int head_dim,
                   float scale, float* const* out);
template <class T>
void av_multi_avx2(const float* const* w, int n_q, const T* v, int64_t stride, int m, int head_dim,
                   float* const* acc);

// One query token against heads [h0, h1) at once, each K/V row read once for all of
// them (decode): q holds every head (head_dim apart), K/V head of head h is h / group.
struct HeadsArgs {
  const float* q = nullptr;
  int h0 = 0, h1 = 0, group = 1, head_dim = 0;
  int64_t stride = 0;  // elements between K/V rows
  float scale = 1.0f;
};
// out[h - h0][j] = scale * dot(q_h, K_j of h): bit for bit qk_rows_avx2's value.
template <class T>
void qk_heads_avx2(const HeadsArgs& a, const T* k, int m, float* const* out);
// out_h[d] += sum_j w[h - h0][j] * V_j[d] (j ascending), out_h at out + h * head_dim:
// bit for bit av_rows_avx2's value.
template <class T>
void av_heads_avx2(const HeadsArgs& a, const float* const* w, const T* v, int m, float* out);

// out[0..n) = fp16(x[0..n)), rounded to nearest even (F16C; bit for bit fp32_to_fp16).
void store_f16_avx2(const float* x, uint16_t* out, int64_t n);

}  // namespace rs::engine::attn
