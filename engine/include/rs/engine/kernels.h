// Numeric kernels: matmul over ggml weight types (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, IQ4_NL, Q2_K..Q6_K; activations rounded as ggml does for each), row conversion and
// quantization, and the element-wise ops of a transformer layer. Stateless; callable
// from any thread. The SIMD path (AVX-512 VNNI, else AVX2/FMA/F16C) is
// chosen at run time when the CPU has it; KernelPath::kScalar forces the portable reference
// path (for tests). Within one path, y[t][o] of matmul is bit-identical whatever the batch
// size, the token's position in the batch and the thread split (batch invariance).
#pragma once

#include <cstdint>

#include "rs/engine/gguf.h"

namespace rs::engine {

class ThreadPool;

// kAvx2 and kAvx512 fall back to the best available path below them when the CPU lacks them.
enum class KernelPath { kAuto, kScalar, kAvx2, kAvx512 };

// Process-wide default used when a call passes kAuto (tests may set kScalar).
void set_default_kernel_path(KernelPath path);
KernelPath resolve_kernel_path(KernelPath path);
bool cpu_has_avx2_fma_f16c();
bool cpu_has_avx512_vnni();  // AVX-512 F/BW/VL/DQ + VNNI (and AVX2/FMA/F16C)

// A weight matrix in ggml layout: n_out rows of n_in elements, rows row_bytes apart.
struct WeightView {
  GgmlType type = GgmlType::kF32;
  const void* data = nullptr;
  int64_t n_in = 0;
  int64_t n_out = 0;
  int64_t row_bytes = 0;
  // The same matrix in the row-interleaved layout the AVX-512 kernels read faster (see
  // pack_weight), or nullptr. Only that path reads it; the others read data.
  const void* packed = nullptr;
};

// Q8_0, Q4_K and Q6_K matrices have a packed layout on AVX-512 VNNI CPUs (16 rows
// interleaved per block; same values, Q4_K about 3% more bytes). packed_weight_bytes is its size, or 0
// when this CPU or matrix has none (then leave w.packed unset). pack_weight writes it to
// dst (64-byte aligned, packed_weight_bytes(w) bytes), splitting rows across the pool.
// Results with and without the packed copy are identical (the scalar path's arithmetic).
int64_t packed_weight_bytes(const WeightView& w);
void pack_weight(const WeightView& w, void* dst, ThreadPool* pool);

// y[t][o] = sum_i w[o][i] * x[t][i] for t < n_tokens. x is n_tokens x n_in (row stride
// n_in), y is n_tokens x n_out (row stride n_out). Each weight row is read once per call
// for the whole batch. Splits output rows across the pool (nullptr: calling thread only).
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool,
            KernelPath path = KernelPath::kAuto);

// matmul(ws[i], x, n_tokens, ys[i]) for i < n, with x prepared once and one pool
// dispatch for all (each y bit-identical to the single matmul). Matrices of different
// types (except K-quants among themselves) or input sizes (or n > 8) simply run one after
// the other.
void matmul_multi(const WeightView* ws, int n, const float* x, int64_t n_tokens, float* const* ys,
                  ThreadPool* pool, KernelPath path = KernelPath::kAuto);

// Row conversion.
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);
// Every supported type (ggml_type_supported); n a multiple of the type's block size.
void quantize_row(GgmlType type, const float* src, void* dst, int64_t n);
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

// Element-wise ops (n elements).
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
void silu_mul(float* gate, const float* up, int64_t n);       // gate = silu(gate) * up
void add_inplace(float* y, const float* x, int64_t n);        // y += x
void softmax_inplace(float* x, int64_t n);
// Index of the largest of x[0..n) (the first on ties; NaN never wins; 0 when none is
// comparable). n >= 1.
int64_t argmax_f32(const float* x, int64_t n);
// The log-softmax normalizer of x[0..n): *max_out = max(x), *log_sum_out = log(sum(exp(x - max))),
// the sum in double in a fixed order, so it depends only on x. n >= 1.
void log_sum_exp_f32(const float* x, int64_t n, float* max_out, double* log_sum_out);
float dot_f32(const float* a, const float* b, int64_t n, KernelPath path = KernelPath::kAuto);
void axpy_f32(float a, const float* x, float* y, int64_t n, KernelPath path = KernelPath::kAuto);  // y += a*x

}  // namespace rs::engine
