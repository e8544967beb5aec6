// AVX-512 VNNI kernel for Q8_0 weights in the packed layout (weight_pack.h): 16 rows in the
// 16 lanes, each 64-byte load holding 4 elements of each row as uint8 (q + 128) for a
// vpdpbusd against one broadcast dword of signed activations; the accumulator of each block
// starts at -128 * sum(x), so the lane ends with the row's exact integer block dot. Then
// acc += float(dot) * (d_w * d_x) per block, the scalar path's operations in its order (no
// fused multiply-add): results equal the scalar path bit for bit, whatever the batch, tile
// or thread split.
// GCC 12 warns spuriously about the AVX-512 intrinsic headers' own undefined operands.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels_internal.h"
#include "weight_pack.h"

namespace rs::engine::kern {

bool rows_q8_packed_avx512(const MatmulArgs& a, int64_t r0, int64_t r1);

namespace {

constexpr int kTile = 8;  // tokens per pass over a group
constexpr int64_t kTokenChunk = 64;  // multiple of kTile
constexpr int64_t kAhead = 8192;  // prefetch distance (bytes) into L2: 1.15-1.25x at one token over 1024
constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

// One call's activations as the kernel reads them: token t's signed values (n_blocks * 32),
// and per block -128 * sum(x) and the scale.
struct SignedTokens {
  const int8_t* xs = nullptr;
  const int32_t* corr = nullptr;
  const float* dx = nullptr;
  int64_t n_blocks = 0;
};

SignedTokens signed_tokens(const QuantAct& act) {
  thread_local std::vector<int8_t> xs;
  thread_local std::vector<int32_t> corr;
  thread_local std::vector<float> dx;
  const int64_t nb = act.n_blocks;
  xs.resize(static_cast<size_t>(act.n_tokens * nb * 32));
  corr.resize(static_cast<size_t>(act.n_tokens * nb));
  dx.resize(static_cast<size_t>(act.n_tokens * nb));
  for (int64_t t = 0; t < act.n_tokens; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t slot = pair_slot(act, t / 2, b);
      const int8_t* u = act.qs + slot * 64 + (t % 2) * 32;  // x + 128
      int8_t* x = xs.data() + (t * nb + b) * 32;
      int32_t sum = 0;
      for (int j = 0; j < 32; ++j) {
        x[j] = static_cast<int8_t>(u[j] ^ 0x80);
        sum += x[j];
      }
      corr[static_cast<size_t>(t * nb + b)] = -128 * sum;
      dx[static_cast<size_t>(t * nb + b)] = act.d8[slot * 16 + (t % 2) * 8];
    }
  }
  return SignedTokens{xs.data(), corr.data(), dx.data(), nb};
}

inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int T>
void q8_tile(const uint8_t* grp, const SignedTokens& s, int64_t t0, float* out, int64_t out_stride) {
  const int64_t nb = s.n_blocks;
  const auto* d16 = grp + nb * 512;
  __m512 acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* q = grp + b * 512;
    _mm_prefetch(reinterpret_cast<const char*>(q + kAhead), _MM_HINT_T1);
    __m512i dot[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) dot[t] = _mm512_set1_epi32(s.corr[(t0 + t) * nb + b]);
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) {
      if (c % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(q + kAhead + 64 + 32 * c), _MM_HINT_T1);
      const __m512i w = _mm512_loadu_si512(q + 64 * c);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        dot[t] = _mm512_dpbusd_epi32(dot[t], w, _mm512_set1_epi32(load_i32(s.xs + ((t0 + t) * nb + b) * 32 + 4 * c)));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d16 + b * 32)));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512 scale = _mm512_mul_round_ps(dw, _mm512_set1_ps(s.dx[(t0 + t) * nb + b]), kRound);
      acc[t] = _mm512_add_round_ps(acc[t], _mm512_mul_round_ps(_mm512_cvtepi32_ps(dot[t]), scale, kRound), kRound);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(out + t * out_stride, acc[t]);
}

void q8_tokens(int nt, const uint8_t* grp, const SignedTokens& s, int64_t t0, float* out, int64_t out_stride) {
  switch (nt) {
    case 8: return q8_tile<8>(grp, s, t0, out, out_stride);
    case 7: return q8_tile<7>(grp, s, t0, out, out_stride);
    case 6: return q8_tile<6>(grp, s, t0, out, out_stride);
    case 5: return q8_tile<5>(grp, s, t0, out, out_stride);
    case 4: return q8_tile<4>(grp, s, t0, out, out_stride);
    case 3: return q8_tile<3>(grp, s, t0, out, out_stride);
    case 2: return q8_tile<2>(grp, s, t0, out, out_stride);
    default: return q8_tile<1>(grp, s, t0, out, out_stride);
  }
}

}  // namespace

bool rows_q8_packed_avx512(const MatmulArgs& a, int64_t r0, int64_t r1) {
  if (a.w.packed == nullptr || a.w.type != GgmlType::kQ8_0 || !packable(a.w)) return false;
  const SignedTokens s = signed_tokens(a.act);
  const int64_t group_bytes = packed_q8_0_group_bytes(s.n_blocks);
  const auto* packed = static_cast<const uint8_t*>(a.w.packed);
  // Long prefills: kTokenChunk tokens' activations stay in L2 while the groups go by.
  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += kTokenChunk) {
    const int64_t c1 = std::min(a.n_tokens, c0 + kTokenChunk);
    for (int64_t g = r0 / kPackRows; g < r1 / kPackRows; ++g) {
      const uint8_t* grp = packed + g * group_bytes;
      for (int64_t t0 = c0; t0 < c1; t0 += kTile) {
        const int nt = static_cast<int>(std::min<int64_t>(kTile, c1 - t0));
        q8_tokens(nt, grp, s, t0, a.y + t0 * a.w.n_out + g * kPackRows, a.w.n_out);
      }
    }
  }
  return true;
}

}  // namespace rs::engine::kern
