// AVX2 unpacking of K-quant and legacy weight blocks into raw byte values (KUnpacked /
// LUnpacked, identical to the portable unpackers), shared by the SIMD block-dot files.
// Internal linkage: each including file compiles its own copy with its instruction set.
#pragma once

#include <immintrin.h>

#include <cstring>

#include "blockdot.h"
#include "quant_kquants_pack.h"

namespace rs::engine::kern {
namespace {

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline void store256(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }

// Bit `bit` of each byte of v as `value` (else 0).
inline __m256i bit_as(__m256i v, int bit, int value) {
  const __m256i m = _mm256_set1_epi8(static_cast<char>(1 << bit));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, m), m), _mm256_set1_epi8(static_cast<char>(value)));
}

inline void unpack_2bit_simd(const uint8_t* qs, uint8_t* q) {
  const __m256i three = _mm256_set1_epi8(3);
  for (int h = 0; h < 2; ++h) {
    const __m256i v = load256(qs + 32 * h);
    for (int s = 0; s < 4; ++s) {
      store256(q + 128 * h + 32 * s, _mm256_and_si256(_mm256_srli_epi16(v, 2 * s), three));
    }
  }
}

inline void unpack_4bit_simd(const uint8_t* qs, uint8_t* q) {
  const __m256i low = _mm256_set1_epi8(15);
  for (int j = 0; j < 4; ++j) {
    const __m256i v = load256(qs + 32 * j);
    store256(q + 64 * j, _mm256_and_si256(v, low));
    store256(q + 64 * j + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
  }
}

// Adds `value` to q[32j + l] where bit j of bits[l] is set.
inline void unpack_high_simd(const uint8_t* bits, int value, uint8_t* q) {
  const __m256i hb = load256(bits);
  for (int j = 0; j < 8; ++j) {
    store256(q + 32 * j, _mm256_or_si256(load256(q + 32 * j), bit_as(hb, j, value)));
  }
}

inline void unpack_q6_simd(const uint8_t* ql, const uint8_t* qh, uint8_t* q) {
  const __m256i low = _mm256_set1_epi8(15);
  const __m256i hi2 = _mm256_set1_epi8(0x30);
  for (int h = 0; h < 2; ++h) {
    const __m256i l0 = load256(ql + 64 * h);
    const __m256i l1 = load256(ql + 64 * h + 32);
    const __m256i hv = load256(qh + 32 * h);
    uint8_t* out = q + 128 * h;
    store256(out, _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_and_si256(_mm256_slli_epi16(hv, 4), hi2)));
    store256(out + 32, _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_and_si256(_mm256_slli_epi16(hv, 2), hi2)));
    store256(out + 64, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), _mm256_and_si256(hv, hi2)));
    store256(out + 96, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                                       _mm256_and_si256(_mm256_srli_epi16(hv, 2), hi2)));
  }
}

// Q3_K's sixteen 6-bit scales minus 32 (as scales_q3_k), in registers.
inline __m128i q3_k_scales(const uint8_t* p) {
  uint64_t a;
  uint32_t e;
  std::memcpy(&a, p, 8);
  std::memcpy(&e, p + 8, 4);
  constexpr uint64_t kLow = 0x0f0f0f0f0f0f0f0fULL;
  constexpr uint32_t kTwo = 0x03030303u;
  const uint64_t high_a = (e & kTwo) | static_cast<uint64_t>((e >> 2) & kTwo) << 32;
  const uint64_t high_b = ((e >> 4) & kTwo) | static_cast<uint64_t>((e >> 6) & kTwo) << 32;
  const uint64_t first = (a & kLow) | (high_a << 4);
  const uint64_t second = ((a >> 4) & kLow) | (high_b << 4);
  return _mm_sub_epi8(_mm_set_epi64x(static_cast<int64_t>(second), static_cast<int64_t>(first)), _mm_set1_epi8(32));
}

// Q4_K/Q5_K: the eight 6-bit scales and mins (as scale_min_k4) as 8 bytes each.
inline void scale_min_k4_bytes(const uint8_t* p, uint64_t* sc, uint64_t* mn) {
  uint32_t a, b, e;
  std::memcpy(&a, p, 4);
  std::memcpy(&b, p + 4, 4);
  std::memcpy(&e, p + 8, 4);
  *sc = (a & 0x3f3f3f3fu) | static_cast<uint64_t>((e & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
  *mn = (b & 0x3f3f3f3fu) | static_cast<uint64_t>(((e >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u)) << 32;
}

// unpack_kquant_scales with mask arithmetic and F16C (same values).
inline void unpack_kquant_scales_simd(GgmlType t, const uint8_t* src, KUnpacked* u) {
  if (t == GgmlType::kQ4_K || t == GgmlType::kQ5_K) {
    uint64_t sc, mn;
    scale_min_k4_bytes(src + 4, &sc, &mn);
    const __m128i s8 = _mm_cvtsi64_si128(static_cast<int64_t>(sc));
    const __m128i m8 = _mm_cvtsi64_si128(static_cast<int64_t>(mn));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u->sc), _mm_unpacklo_epi8(s8, s8));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u->mn), _mm_unpacklo_epi8(m8, m8));
    u->d = _cvtsh_ss(load_u16(src));
    u->dmin = _cvtsh_ss(load_u16(src + 2));
  } else if (t == GgmlType::kQ3_K) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u->sc), q3_k_scales(src + 96));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u->mn), _mm_setzero_si128());
    u->d = _cvtsh_ss(load_u16(src + 108));
    u->dmin = 0.0f;
  } else if (t == GgmlType::kQ2_K) {
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    const __m128i low = _mm_set1_epi8(15);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u->sc), _mm_and_si128(s, low));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u->mn), _mm_and_si128(_mm_srli_epi16(s, 4), low));
    u->d = _cvtsh_ss(load_u16(src + 80));
    u->dmin = _cvtsh_ss(load_u16(src + 82));
  } else {
    std::memcpy(u->sc, src + 192, 16);
    std::memset(u->mn, 0, 16);
    u->d = _cvtsh_ss(load_u16(src + 208));
    u->dmin = 0.0f;
  }
}

inline void unpack_kquant_simd(GgmlType t, const uint8_t* src, KUnpacked* u) {
  unpack_kquant_scales_simd(t, src, u);
  if (t == GgmlType::kQ2_K) {
    unpack_2bit_simd(reinterpret_cast<const BlockQ2K*>(src)->qs, u->q);
  } else if (t == GgmlType::kQ3_K) {
    const auto* b = reinterpret_cast<const BlockQ3K*>(src);
    unpack_2bit_simd(b->qs, u->q);
    unpack_high_simd(b->hmask, 4, u->q);
  } else if (t == GgmlType::kQ4_K || t == GgmlType::kQ5_K) {
    const bool five = t == GgmlType::kQ5_K;
    unpack_4bit_simd(src + (five ? 48 : 16), u->q);
    if (five) unpack_high_simd(src + 16, 16, u->q);
  } else {
    const auto* b = reinterpret_cast<const BlockQ6K*>(src);
    unpack_q6_simd(b->ql, b->qh, u->q);
  }
}

// Legacy block values as 32 bytes (raw, offset as legacy_offset).
inline __m256i unpack_legacy_simd(GgmlType t, const uint8_t* blk, float* d, float* m) {
  const bool has_min = legacy_has_min(t);
  const bool five = t == GgmlType::kQ5_0 || t == GgmlType::kQ5_1;
  const uint8_t* qs = blk + 2 + (has_min ? 2 : 0) + (five ? 4 : 0);
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i low = _mm_set1_epi8(15);
  __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), low), _mm_and_si128(v, low));
  if (five) {  // bit j of the u32 qh -> +16 on element j
    uint32_t h;
    std::memcpy(&h, qs - 4, 4);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(h)),
                                              _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL,
                                                                 0x0303030303030303LL));
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    q = _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(16)));
  } else if (t == GgmlType::kIQ4_NL) {
    __m128i tbl;
    std::memcpy(&tbl, kIq4NlValues, 16);
    const __m256i lut = _mm256_add_epi8(_mm256_broadcastsi128_si256(tbl), _mm256_set1_epi8(static_cast<char>(128)));
    q = _mm256_shuffle_epi8(lut, q);
  }
  *d = _cvtsh_ss(load_u16(blk));
  *m = has_min ? _cvtsh_ss(load_u16(blk + 2)) : 0.0f;
  return q;
}

inline int32_t hsum_i32_8(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

}  // namespace
}  // namespace rs::engine::kern
