// Portable reference matmul: weights converted row by row, F32 dot products with eight
// partial sums; Q8_0/Q4_0 use activations quantized to 8-bit blocks and integer block dots.
#include <vector>

#include "blockdot.h"
#include "kernels_internal.h"

namespace rs::engine::kern {

namespace {

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

void rows_float(const MatmulArgs& a, int64_t r0, int64_t r1) {
  thread_local std::vector<float> row;
  const WeightView& w = a.w;
  row.resize(static_cast<size_t>(w.n_in));
  for (int64_t o = r0; o < r1; ++o) {
    dequantize_row(w.type, static_cast<const uint8_t*>(w.data) + o * w.row_bytes, row.data(),
                   w.n_in);
    for (int64_t t = 0; t < a.n_tokens; ++t) {
      a.y[t * w.n_out + o] = dot_scalar(row.data(), a.x + t * a.x_stride, w.n_in);
    }
  }
}

// Unpacks one weight row to int8 values and float scales per block.
void unpack_row(GgmlType type, const void* src, int64_t n_blocks, int8_t* q, float* d) {
  if (type == GgmlType::kQ8_0) {
    const auto* b = static_cast<const BlockQ8_0*>(src);
    for (int64_t i = 0; i < n_blocks; ++i) {
      d[i] = fp16_to_fp32(load_u16(b[i].d));
      std::memcpy(q + i * kQBlock, b[i].qs, 32);
    }
    return;
  }
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n_blocks; ++i) {
    d[i] = fp16_to_fp32(load_u16(b[i].d));
    for (int j = 0; j < 16; ++j) {
      q[i * kQBlock + j] = static_cast<int8_t>((b[i].qs[j] & 0x0f) - 8);
      q[i * kQBlock + j + 16] = static_cast<int8_t>((b[i].qs[j] >> 4) - 8);
    }
  }
}

void rows_quant(const MatmulArgs& a, int64_t r0, int64_t r1) {
  thread_local std::vector<int8_t> q;
  thread_local std::vector<float> d;
  const WeightView& w = a.w;
  const int64_t nb = a.act.n_blocks;
  q.resize(static_cast<size_t>(w.n_in));
  d.resize(static_cast<size_t>(nb));
  for (int64_t o = r0; o < r1; ++o) {
    unpack_row(w.type, static_cast<const uint8_t*>(w.data) + o * w.row_bytes, nb, q.data(),
               d.data());
    for (int64_t t = 0; t < a.n_tokens; ++t) {
      const int8_t* xq = a.act.qs + t * a.act.nbp * kQBlock;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t isum = 0;
        for (int j = 0; j < 32; ++j) {
          isum += static_cast<int32_t>(q[b * kQBlock + j]) * xq[b * kQBlock + j];
        }
        acc += static_cast<float>(isum) * (d[b] * a.act.d8[(t * a.act.nbp + b) * 8]);
      }
      a.y[t * w.n_out + o] = acc;
    }
  }
}

void rows_scalar(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (is_quant(a.w.type)) {
    rows_quant(a, r0, r1);
  } else {
    rows_float(a, r0, r1);
  }
}

void prepare_scalar(GgmlType, const float* x, int64_t n_in, int64_t t0, int64_t t1,
                    const QuantAct& act) {
  quantize_act_scalar(x, n_in, t0, t1, act);
}

void block_rows(const MatmulArgs& a, int64_t r0, int64_t r1) {
  block_rows_scalar(a.w.type, static_cast<const uint8_t*>(a.w.data), a.w.row_bytes, *a.bact,
                    a.n_tokens, a.y, a.w.n_out, r0, r1);
}

}  // namespace

MatmulPath matmul_path_scalar() { return MatmulPath{rows_scalar, prepare_scalar, 4, block_rows}; }

}  // namespace rs::engine::kern
