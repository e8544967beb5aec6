// AVX2/FMA attention inner loops (compiled with -mavx2 -mfma -mf16c; called only when the
// CPU has them). K/V rows are f32 or fp16 (widened to f32 as they are loaded, F16C). Per K row: one 8-lane FMA chain over head_dim, then a fixed horizontal sum.
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

// 8 K/V values at p as f32.
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

}  // namespace

template <class T>
void qk_rows_avx2(const float* q, const T* k, int64_t stride, int m, int head_dim, float scale, float* out) {
  int j = 0;
  for (; j + 4 <= m; j += 4) {
    const T* k0 = k + j * stride;
    const T* k1 = k0 + stride;
    const T* k2 = k1 + stride;
    const T* k3 = k2 + stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int d = 0; d < head_dim; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(qv, load8(k0 + d), a0);
      a1 = _mm256_fmadd_ps(qv, load8(k1 + d), a1);
      a2 = _mm256_fmadd_ps(qv, load8(k2 + d), a2);
      a3 = _mm256_fmadd_ps(qv, load8(k3 + d), a3);
    }
    out[j] = hsum(a0) * scale;
    out[j + 1] = hsum(a1) * scale;
    out[j + 2] = hsum(a2) * scale;
    out[j + 3] = hsum(a3) * scale;
  }
  for (; j < m; ++j) {
    const T* k0 = k + j * stride;
    __m256 a0 = _mm256_setzero_ps();
    for (int d = 0; d < head_dim; d += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(k0 + d), a0);
    out[j] = hsum(a0) * scale;
  }
}

template <class T>
void av_rows_avx2(const float* w, const T* v, int64_t stride, int m, int head_dim, float* acc) {
  int d = 0;
  for (; d + 32 <= head_dim; d += 32) {
    __m256 o0 = _mm256_loadu_ps(acc + d), o1 = _mm256_loadu_ps(acc + d + 8);
    __m256 o2 = _mm256_loadu_ps(acc + d + 16), o3 = _mm256_loadu_ps(acc + d + 24);
    for (int j = 0; j < m; ++j) {
      const T* vj = v + j * stride + d;
      const __m256 wj = _mm256_set1_ps(w[j]);
      o0 = _mm256_fmadd_ps(wj, load8(vj), o0);
      o1 = _mm256_fmadd_ps(wj, load8(vj + 8), o1);
      o2 = _mm256_fmadd_ps(wj, load8(vj + 16), o2);
      o3 = _mm256_fmadd_ps(wj, load8(vj + 24), o3);
    }
    _mm256_storeu_ps(acc + d, o0);
    _mm256_storeu_ps(acc + d + 8, o1);
    _mm256_storeu_ps(acc + d + 16, o2);
    _mm256_storeu_ps(acc + d + 24, o3);
  }
  for (; d < head_dim; d += 8) {
    __m256 o0 = _mm256_loadu_ps(acc + d);
    for (int j = 0; j < m; ++j) o0 = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), load8(v + j * stride + d), o0);
    _mm256_storeu_ps(acc + d, o0);
  }
}

namespace {

template <int NQ, class T>
void qk_multi(const float* const* q, const T* k, int64_t stride, int m, int head_dim, float scale,
              float* const* out) {
  for (int j = 0; j < m; ++j) {
    const T* kj = k + j * stride;
    __m256 a[NQ];
    for (int i = 0; i < NQ; ++i) a[i] = _mm256_setzero_ps();
    for (int d = 0; d < head_dim; d += 8) {
      const __m256 kv = load8(kj + d);
      for (int i = 0; i < NQ; ++i) a[i] = _mm256_fmadd_ps(_mm256_loadu_ps(q[i] + d), kv, a[i]);
    }
    for (int i = 0; i < NQ; ++i) out[i][j] = hsum(a[i]) * scale;
  }
}

template <int NQ, class T>
void av_multi(const float* const* w, const T* v, int64_t stride, int m, int head_dim, float* const* acc) {
  int d = 0;
  for (; d + 16 <= head_dim; d += 16) {
    __m256 o0[NQ], o1[NQ];
    for (int i = 0; i < NQ; ++i) {
      o0[i] = _mm256_loadu_ps(acc[i] + d);
      o1[i] = _mm256_loadu_ps(acc[i] + d + 8);
    }
    for (int j = 0; j < m; ++j) {
      const __m256 v0 = load8(v + j * stride + d);
      const __m256 v1 = load8(v + j * stride + d + 8);
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
      for (int j = 0; j < m; ++j) o = _mm256_fmadd_ps(_mm256_set1_ps(w[i][j]), load8(v + j * stride + d), o);
      _mm256_storeu_ps(acc[i] + d, o);
    }
  }
}

}  // namespace

template <class T>
void qk_multi_avx2(const float* const* q, int n_q, const T* k, int64_t stride, int m, int head_dim,
                   float scale, float* const* out) {
  switch (n_q) {
    case 1: return qk_rows_avx2<T>(q[0], k, stride, m, head_dim, scale, out[0]);
    case 2: return qk_multi<2, T>(q, k, stride, m, head_dim, scale, out);
    case 3: return qk_multi<3, T>(q, k, stride, m, head_dim, scale, out);
    default: return qk_multi<4, T>(q, k, stride, m, head_dim, scale, out);
  }
}

template <class T>
void av_multi_avx2(const float* const* w, int n_q, const T* v, int64_t stride, int m, int head_dim,
                   float* const* acc) {
  switch (n_q) {
    case 1: return av_rows_avx2<T>(w[0], v, stride, m, head_dim, acc[0]);
    case 2: return av_multi<2, T>(w, v, stride, m, head_dim, acc);
    case 3: return av_multi<3, T>(w, v, stride, m, head_dim, acc);
    default: return av_multi<4, T>(w, v, stride, m, head_dim, acc);
  }
}

// One query token, heads [h0, h1), K/V rows walked in order (each row once for all the
// heads: sequential memory access). Per (head, row) the same FMA chain and horizontal sum
// as qk_rows_avx2, and per output element the same FMA sequence as av_rows_avx2.
template <class T>
void qk_heads_avx2(const HeadsArgs& a, const T* k, int m, float* const* out) {
  const int nh = a.h1 - a.h0;
  for (int j = 0; j < m; ++j) {
    const T* kj = k + j * a.stride;
    int i = 0;
    for (; i + 4 <= nh; i += 4) {
      const float* q0 = a.q + static_cast<int64_t>(a.h0 + i) * a.head_dim;
      const T* kr[4];
      for (int r = 0; r < 4; ++r) kr[r] = kj + static_cast<int64_t>((a.h0 + i + r) / a.group) * a.head_dim;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      for (int d = 0; d < a.head_dim; d += 8) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + d), load8(kr[0] + d), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + a.head_dim + d), load8(kr[1] + d), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + 2 * a.head_dim + d), load8(kr[2] + d), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + 3 * a.head_dim + d), load8(kr[3] + d), a3);
      }
      out[i][j] = hsum(a0) * a.scale;
      out[i + 1][j] = hsum(a1) * a.scale;
      out[i + 2][j] = hsum(a2) * a.scale;
      out[i + 3][j] = hsum(a3) * a.scale;
    }
    for (; i < nh; ++i) {
      const float* qh = a.q + static_cast<int64_t>(a.h0 + i) * a.head_dim;
      const T* kr = kj + static_cast<int64_t>((a.h0 + i) / a.group) * a.head_dim;
      __m256 a0 = _mm256_setzero_ps();
      for (int d = 0; d < a.head_dim; d += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), load8(kr + d), a0);
      out[i][j] = hsum(a0) * a.scale;
    }
  }
}

template <class T>
void av_heads_avx2(const HeadsArgs& a, const float* const* w, const T* v, int m, float* out) {
  const int nh = a.h1 - a.h0;
  for (int j = 0; j < m; ++j) {
    const T* vj = v + j * a.stride;
    for (int i = 0; i < nh; ++i) {
      const T* vr = vj + static_cast<int64_t>((a.h0 + i) / a.group) * a.head_dim;
      float* o = out + static_cast<int64_t>(a.h0 + i) * a.head_dim;
      const __m256 wj = _mm256_set1_ps(w[i][j]);
      for (int d = 0; d < a.head_dim; d += 8) {
        _mm256_storeu_ps(o + d, _mm256_fmadd_ps(wj, load8(vr + d), _mm256_loadu_ps(o + d)));
      }
    }
  }
}

#define RS_ATTN_INSTANTIATE(T)                                                                                 \
  template void qk_rows_avx2<T>(const float*, const T*, int64_t, int, int, float, float*);                     \
  template void av_rows_avx2<T>(const float*, const T*, int64_t, int, int, float*);                            \
  template void qk_multi_avx2<T>(const float* const*, int, const T*, int64_t, int, int, float, float* const*); \
  template void av_multi_avx2<T>(const float* const*, int, const T*, int64_t, int, int, float* const*);        \
  template void qk_heads_avx2<T>(const HeadsArgs&, const T*, int, float* const*);                              \
  template void av_heads_avx2<T>(const HeadsArgs&, const float* const*, const T*, int, float*);
RS_ATTN_INSTANTIATE(float)
RS_ATTN_INSTANTIATE(uint16_t)
#undef RS_ATTN_INSTANTIATE

void store_f16_avx2(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) out[i] = static_cast<uint16_t>(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

}  // namespace rs::engine::attn
