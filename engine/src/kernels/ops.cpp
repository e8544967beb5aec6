// Element-wise ops: portable versions and the dispatch to the AVX2 variants.
#include <cmath>

#include "kernels_internal.h"

namespace rs::engine {

namespace {

bool use_simd(KernelPath path) { return resolve_kernel_path(path) != KernelPath::kScalar; }

float dot_scalar(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n, KernelPath path) {
  if (use_simd(path)) return kern::dot_f32_avx2(a, b, n);
  return dot_scalar(a, b, n);
}

void axpy_f32(float a, const float* x, float* y, int64_t n, KernelPath path) {
  if (use_simd(path)) {
    kern::axpy_f32_avx2(a, x, y, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  if (use_simd(KernelPath::kAuto)) {
    kern::rms_norm_avx2(x, weight, out, n, eps);
    return;
  }
  double sum = 0.0;  // ggml accumulates the sum of squares in double (ggml_float)
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void silu_mul(float* gate, const float* up, int64_t n) {
  if (use_simd(KernelPath::kAuto)) {
    kern::silu_mul_avx2(gate, up, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add_inplace(float* y, const float* x, int64_t n) {
  if (use_simd(KernelPath::kAuto)) {
    kern::add_avx2(y, x, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

int64_t argmax_f32(const float* x, int64_t n) {
  if (use_simd(KernelPath::kAuto)) return kern::argmax_avx2(x, n);
  int64_t best = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isnan(x[i]) && (best < 0 || x[i] > x[best])) best = i;
  }
  return best < 0 ? 0 : best;
}

void log_sum_exp_f32(const float* x, int64_t n, float* max_out, double* log_sum_out) {
  if (use_simd(KernelPath::kAuto)) {
    kern::log_sum_exp_avx2(x, n, max_out, log_sum_out);
    return;
  }
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::fmax(max, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(std::exp(x[i] - max));
  *max_out = max;
  *log_sum_out = std::log(sum);
}

void softmax_inplace(float* x, int64_t n) {
  if (n <= 0) return;
  if (use_simd(KernelPath::kAuto)) {
    kern::softmax_avx2(x, n);
    return;
  }
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::fmax(max, x[i]);
  if (std::isinf(max) && max < 0) {  // everything masked
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace rs::engine
