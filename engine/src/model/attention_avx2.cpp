// AVX2/FMA attention inner loops (compiled with -mavx2 -mfma; called only when the CPU
// has them). Per K row: one 8-lane FMA chain over head_dim, then a fixed horizontal sum.
// Per V element: FMAs over rows in ascending order.
#include <immintrin.h>

#include "attention_kernels.h"

namespace rs::engine::attn {

namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

}  // namespace

void qk_rows_avx2(const float* q, const float* k, int64_t stride, int m, int head_dim, float scale, float* out) {
  int j = 0;
  for (; j + 4 <= m; j += 4) {
    const float* k0 = k + j * stride;
    const float* k1 = k0 + stride;
    const float* k2 = k1 + stride;
    const float* k3 = k2 + stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int d = 0; d < head_dim; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
      a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + d), a1);
      a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + d), a2);
      a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + d), a3);
    }
    out[j] = hsum(a0) * scale;
    out[j + 1] = hsum(a1) * scale;
    out[j + 2] = hsum(a2) * scale;
    out[j + 3] = hsum(a3) * scale;
  }
  for (; j < m; ++j) {
    const float* k0 = k + j * stride;
    __m256 a0 = _mm256_setzero_ps();
    for (int d = 0; d < head_dim; d += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k0 + d), a0);
    out[j] = hsum(a0) * scale;
  }
}

void av_rows_avx2(const float* w, const float* v, int64_t stride, int m, int head_dim, float* acc) {
  int d = 0;
  for (; d + 32 <= head_dim; d += 32) {
    __m256 o0 = _mm256_loadu_ps(acc + d), o1 = _mm256_loadu_ps(acc + d + 8);
    __m256 o2 = _mm256_loadu_ps(acc + d + 16), o3 = _mm256_loadu_ps(acc + d + 24);
    for (int j = 0; j < m; ++j) {
      const float* vj = v + j * stride + d;
      const __m256 wj = _mm256_set1_ps(w[j]);
      o0 = _mm256_fmadd_ps(wj, _mm256_loadu_ps(vj), o0);
      o1 = _mm256_fmadd_ps(wj, _mm256_loadu_ps(vj + 8), o1);
      o2 = _mm256_fmadd_ps(wj, _mm256_loadu_ps(vj + 16), o2);
      o3 = _mm256_fmadd_ps(wj, _mm256_loadu_ps(vj + 24), o3);
    }
    _mm256_storeu_ps(acc + d, o0);
    _mm256_storeu_ps(acc + d + 8, o1);
    _mm256_storeu_ps(acc + d + 16, o2);
    _mm256_storeu_ps(acc + d + 24, o3);
  }
  for (; d < head_dim; d += 8) {
    __m256 o0 = _mm256_loadu_ps(acc + d);
    for (int j = 0; j < m; ++j) o0 = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), _mm256_loadu_ps(v + j * stride + d), o0);
    _mm256_storeu_ps(acc + d, o0);
  }
}

namespace {

template <int NQ>
void qk_multi(const float* const* q, const float* k, int64_t stride, int m, int head_dim, float scale,
              float* const* out) {
  for (int j = 0; j < m; ++j) {
    const float* kj = k + j * stride;
    __m256 a[NQ];
    for (int i = 0; i < NQ; ++i) a[i] = _mm256_setzero_ps();
    for (int d = 0; d < head_dim; d += 8) {
      const __m256 kv = _mm256_loadu_ps(kj + d);
      for (int i = 0; i < NQ; ++i) a[i] = _mm256_fmadd_ps(_mm256_loadu_ps(q[i] + d), kv, a[i]);
    }
    for (int i = 0; i < NQ; ++i) out[i][j] = hsum(a[i]) * scale;
  }
}

template <int NQ>
void av_multi(const float* const* w, const float* v, int64_t stride, int m, int head_dim, float* const* acc) {
  int d = 0;
  for (; d + 16 <= head_dim; d += 16) {
    __m256 o0[NQ], o1[NQ];
    for (int i = 0; i < NQ; ++i) {
      o0[i] = _mm256_loadu_ps(acc[i] + d);
      o1[i] = _mm256_loadu_ps(acc[i] + d + 8);
    }
    for (int j = 0; j < m; ++j) {
      const __m256 v0 = _mm256_loadu_ps(v + j * stride + d);
      const __m256 v1 = _mm256_loadu_ps(v + j * stride + d + 8);
      for (int i = 0; i < NQ; ++i) {
        const __m256 wj = _mm256_set1_ps(w[i][j]);
        o0[i] = _mm256_fmadd_ps(wj, v0, o0[i]);
        o1[i] = _mm256_fmadd_ps(wj, v1, o1[i]);
      }
    }
    for (int i = 0; i < NQ; ++i) {
      _mm256_storeu_ps(acc[i] + d, o0[i]);
      _mm256_storeu_ps(acc[i] + d + 8, o1[i]);
    }
  }
  for (; d < head_dim; d += 8) {
    for (int i = 0; i < NQ; ++i) {
      __m256 o = _mm256_loadu_ps(acc[i] + d);
      for (int j = 0; j < m; ++j) o = _mm256_fmadd_ps(_mm256_set1_ps(w[i][j]), _mm256_loadu_ps(v + j * stride + d), o);
      _mm256_storeu_ps(acc[i] + d, o);
    }
  }
}

}  // namespace

void qk_multi_avx2(const float* const* q, int n_q, const float* k, int64_t stride, int m, int head_dim,
                   float scale, float* const* out) {
  switch (n_q) {
    case 1: return qk_rows_avx2(q[0], k, stride, m, head_dim, scale, out[0]);
    case 2: return qk_multi<2>(q, k, stride, m, head_dim, scale, out);
    case 3: return qk_multi<3>(q, k, stride, m, head_dim, scale, out);
    default: return qk_multi<4>(q, k, stride, m, head_dim, scale, out);
  }
}

void av_multi_avx2(const float* const* w, int n_q, const float* v, int64_t stride, int m, int head_dim,
                   float* const* acc) {
  switch (n_q) {
    case 1: return av_rows_avx2(w[0], v, stride, m, head_dim, acc[0]);
    case 2: return av_multi<2>(w, v, stride, m, head_dim, acc);
    case 3: return av_multi<3>(w, v, stride, m, head_dim, acc);
    default: return av_multi<4>(w, v, stride, m, head_dim, acc);
  }
}

// One query token, heads [h0, h1), K/V rows walked in order (each row once for all the
// heads: sequential memory access). Per (head, row) the same FMA chain and horizontal sum
// as qk_rows_avx2, and per output element the same FMA sequence as av_rows_avx2.
void qk_heads_avx2(const HeadsArgs& a, const float* k, int m, float* const* out) {
  const int nh = a.h1 - a.h0;
  for (int j = 0; j < m; ++j) {
    const float* kj = k + j * a.stride;
    int i = 0;
    for (; i + 4 <= nh; i += 4) {
      const float* q0 = a.q + static_cast<int64_t>(a.h0 + i) * a.head_dim;
      const float* kr[4];
      for (int r = 0; r < 4; ++r) kr[r] = kj + static_cast<int64_t>((a.h0 + i + r) / a.group) * a.head_dim;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      for (int d = 0; d < a.head_dim; d += 8) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + d), _mm256_loadu_ps(kr[0] + d), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + a.head_dim + d), _mm256_loadu_ps(kr[1] + d), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + 2 * a.head_dim + d), _mm256_loadu_ps(kr[2] + d), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + 3 * a.head_dim + d), _mm256_loadu_ps(kr[3] + d), a3);
      }
      out[i][j] = hsum(a0) * a.scale;
      out[i + 1][j] = hsum(a1) * a.scale;
      out[i + 2][j] = hsum(a2) * a.scale;
      out[i + 3][j] = hsum(a3) * a.scale;
    }
    for (; i < nh; ++i) {
      const float* qh = a.q + static_cast<int64_t>(a.h0 + i) * a.head_dim;
      const float* kr = kj + static_cast<int64_t>((a.h0 + i) / a.group) * a.head_dim;
      __m256 a0 = _mm256_setzero_ps();
      for (int d = 0; d < a.head_dim; d += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), _mm256_loadu_ps(kr + d), a0);
      out[i][j] = hsum(a0) * a.scale;
    }
  }
}

void av_heads_avx2(const HeadsArgs& a, const float* const* w, const float* v, int m, float* out) {
  const int nh = a.h1 - a.h0;
  for (int j = 0; j < m; ++j) {
    const float* vj = v + j * a.stride;
    for (int i = 0; i < nh; ++i) {
      const float* vr = vj + static_cast<int64_t>((a.h0 + i) / a.group) * a.head_dim;
      float* o = out + static_cast<int64_t>(a.h0 + i) * a.head_dim;
      const __m256 wj = _mm256_set1_ps(w[i][j]);
      for (int d = 0; d < a.head_dim; d += 8) {
        _mm256_storeu_ps(o + d, _mm256_fmadd_ps(wj, _mm256_loadu_ps(vr + d), _mm256_loadu_ps(o + d)));
      }
    }
  }
}

}  // namespace rs::engine::attn
