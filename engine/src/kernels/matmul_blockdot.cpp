// Portable reference of the block-dot route (see blockdot.h): weight blocks unpacked to
// raw values and scales, integer dots against the quantized activations as ggml's generic
// ggml_vec_dot_*_q8_* do, one float step per block.
#include "blockdot.h"
#include "quant_kquants_pack.h"

namespace rs::engine::kern {

namespace {

float dot_k_row(GgmlType type, const uint8_t* w, const ActBlockK* x, int64_t n_blocks) {
  const int off = kq_offset(type);
  const int64_t bytes = kq_block_bytes(type);
  KUnpacked u;
  float acc = 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b) {
    unpack_kquant(type, w + b * bytes, &u);
    int32_t s = 0, mins = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t dot = 0;
      for (int l = 0; l < 16; ++l) dot += (u.q[16 * g + l] - off) * x[b].qs[16 * g + l];
      s += u.sc[g] * dot;
      mins += u.mn[g] * x[b].bsums[g];
    }
    acc = combine_k(acc, u.d, u.dmin, x[b].d, s, mins);
  }
  return acc;
}

float dot_legacy_row(GgmlType type, const uint8_t* w, const ActBlock32* x, int64_t n_blocks) {
  const int off = legacy_offset(type);
  const bool has_min = legacy_has_min(type);
  const int64_t bytes = legacy_block_bytes(type);
  LUnpacked u;
  float acc = 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b) {
    unpack_legacy(type, w + b * bytes, &u);
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += (u.q[j] - off) * x[b].qs[j];
    acc = combine_legacy(acc, u.d, u.m, x[b], s, has_min);
  }
  return acc;
}

}  // namespace

void block_rows_scalar(GgmlType type, const uint8_t* w, int64_t row_bytes, const BlockAct& act,
                       int64_t n_tokens, float* y, int64_t n_out, int64_t r0, int64_t r1) {
  const bool k = is_k_quant(type);
  for (int64_t o = r0; o < r1; ++o) {
    const uint8_t* row = w + o * row_bytes;
    for (int64_t t = 0; t < n_tokens; ++t) {
      const uint8_t* xa = act.data + t * act.row_bytes;
      y[t * n_out + o] = k ? dot_k_row(type, row, reinterpret_cast<const ActBlockK*>(xa), act.n_blocks)
                           : dot_legacy_row(type, row, reinterpret_cast<const ActBlock32*>(xa), act.n_blocks);
    }
  }
}

}  // namespace rs::engine::kern
