// Row conversion for the K-quants (Q2_K..Q6_K). Quantization: per sub-block a scale (and
// min) chosen by a least-squares search over candidate step sizes, the sub-block scales
// then quantized against the super-block's fp16 scales, and the values re-rounded with the
// stored scales.
#include <algorithm>
#include <cmath>

#include "quant_kquants_pack.h"

namespace rs::engine::kern {

namespace {

int round_int(float v) { return static_cast<int>(std::nearbyint(v)); }

// x ~= a * q - m with q in 0..nmax, m >= 0 (ggml's K-quant min form).
void fit_asym(const float* x, int n, int nmax, float* a_out, float* m_out) {
  float lo = std::min(0.0f, *std::min_element(x, x + n));
  const float hi = *std::max_element(x, x + n);
  *a_out = 0.0f;
  *m_out = -lo;
  if (hi <= lo) return;
  float best = INFINITY;
  for (int k = -10; k <= 10; ++k) {
    const float iscale = (static_cast<float>(nmax) + 0.1f * k) / (hi - lo);
    double sq = 0, sx = 0, sqq = 0, sqx = 0;
    int q[32];
    for (int j = 0; j < n; ++j) {
      q[j] = std::clamp(round_int(iscale * (x[j] - lo)), 0, nmax);
      sq += q[j];
      sx += x[j];
      sqq += static_cast<double>(q[j]) * q[j];
      sqx += q[j] * static_cast<double>(x[j]);
    }
    const double det = n * sqq - sq * sq;
    if (det <= 0) continue;
    double a = (n * sqx - sq * sx) / det;
    double b = (sqq * sx - sq * sqx) / det;  // x ~= a q + b
    if (b > 0) {  // the min form needs b <= 0
      b = 0;
      a = sqx / sqq;
    }
    double err = 0;
    for (int j = 0; j < n; ++j) err += (a * q[j] + b - x[j]) * (a * q[j] + b - x[j]);
    if (err < best && a > 0) {
      best = static_cast<float>(err);
      *a_out = static_cast<float>(a);
      *m_out = static_cast<float>(-b);
    }
  }
}

// x ~= a * q with q in -nmax..nmax-1.
float fit_sym(const float* x, int n, int nmax) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  if (amax == 0.0f) return 0.0f;
  float best_score = -1.0f, best_a = max / -static_cast<float>(nmax);
  for (int k = -9; k <= 9; ++k) {
    const float iscale = -(static_cast<float>(nmax) + 0.1f * k) / max;
    double sqq = 0, sqx = 0;
    for (int j = 0; j < n; ++j) {
      const int q = std::clamp(round_int(iscale * x[j]), -nmax, nmax - 1);
      sqq += static_cast<double>(q) * q;
      sqx += q * static_cast<double>(x[j]);
    }
    if (sqq > 0 && sqx * sqx / sqq > best_score) {
      best_score = static_cast<float>(sqx * sqx / sqq);
      best_a = static_cast<float>(sqx / sqq);
    }
  }
  return best_a;
}

struct KSpec {
  int nmax;      // asym: q in 0..nmax; sym: q in -nmax..nmax-1
  int sub;       // elements per sub-block scale
  int scale_max; // largest stored sub-block scale (asym) or |scale| bound (sym)
  bool asym;
};

KSpec spec_of(GgmlType t) {
  switch (t) {
    case GgmlType::kQ2_K: return {3, 16, 15, true};
    case GgmlType::kQ3_K: return {4, 16, 32, false};
    case GgmlType::kQ4_K: return {15, 32, 63, true};
    case GgmlType::kQ5_K: return {31, 32, 63, true};
    default: return {32, 16, 128, false};
  }
}

// Quantizes 256 values into u (raw unsigned values, offset as kq_offset).
void quantize_super(GgmlType t, const float* x, KUnpacked* u) {
  const KSpec s = spec_of(t);
  const int n_sub = 256 / s.sub;
  float a[16] = {}, m[16] = {};
  float amax = 0.0f, mmax = 0.0f, smax = 0.0f;
  for (int j = 0; j < n_sub; ++j) {
    if (s.asym) {
      fit_asym(x + j * s.sub, s.sub, s.nmax, &a[j], &m[j]);
      amax = std::max(amax, a[j]);
      mmax = std::max(mmax, m[j]);
    } else {
      a[j] = fit_sym(x + j * s.sub, s.sub, s.nmax);
      if (std::fabs(a[j]) > std::fabs(smax)) smax = a[j];
    }
  }
  int sc[16] = {}, mn[16] = {};
  if (s.asym) {
    u->d = fp16_to_fp32(fp32_to_fp16(amax / s.scale_max));
    u->dmin = fp16_to_fp32(fp32_to_fp16(mmax / s.scale_max));
    for (int j = 0; j < n_sub; ++j) {
      sc[j] = u->d > 0 ? std::clamp(round_int(a[j] / u->d), 0, s.scale_max) : 0;
      mn[j] = u->dmin > 0 ? std::clamp(round_int(m[j] / u->dmin), 0, s.scale_max) : 0;
    }
  } else {
    const float iscale = smax != 0.0f ? -static_cast<float>(s.scale_max) / smax : 0.0f;
    u->d = iscale != 0.0f ? fp16_to_fp32(fp32_to_fp16(1.0f / iscale)) : 0.0f;
    u->dmin = 0.0f;
    for (int j = 0; j < n_sub; ++j) sc[j] = std::clamp(round_int(iscale * a[j]), -s.scale_max, s.scale_max - 1);
  }
  const int off = kq_offset(t);
  for (int e = 0; e < 256; ++e) {
    const int j = e / s.sub;
    const float dl = u->d * static_cast<float>(sc[j]);
    const float ml = u->dmin * static_cast<float>(mn[j]);
    int q = dl != 0.0f ? round_int((x[e] + ml) / dl) : 0;
    q = s.asym ? std::clamp(q, 0, s.nmax) : std::clamp(q, -s.nmax, s.nmax - 1);
    u->q[e] = static_cast<uint8_t>(q + off);
  }
  for (int g = 0; g < 16; ++g) {
    u->sc[g] = static_cast<int8_t>(sc[g * 16 / s.sub]);
    u->mn[g] = static_cast<uint8_t>(mn[g * 16 / s.sub]);
  }
}

void pack_kquant(GgmlType t, const KUnpacked& u, uint8_t* dst) {
  const uint16_t d = fp32_to_fp16(u.d);
  const uint16_t dmin = fp32_to_fp16(u.dmin);
  if (t == GgmlType::kQ2_K) {
    auto* b = reinterpret_cast<BlockQ2K*>(dst);
    for (int g = 0; g < 16; ++g) b->scales[g] = static_cast<uint8_t>(u.sc[g] | (u.mn[g] << 4));
    pack_2bit(u.q, b->qs);
    store_u16(b->d, d);
    store_u16(b->dmin, dmin);
  } else if (t == GgmlType::kQ3_K) {
    auto* b = reinterpret_cast<BlockQ3K*>(dst);
    uint8_t v[16];
    for (int g = 0; g < 16; ++g) v[g] = static_cast<uint8_t>(u.sc[g] + 32);
    pack_scales_q3_k(v, b->scales);
    pack_2bit(u.q, b->qs);
    pack_high(u.q, 2, b->hmask);
    store_u16(b->d, d);
  } else if (t == GgmlType::kQ4_K || t == GgmlType::kQ5_K) {
    const bool five = t == GgmlType::kQ5_K;
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = static_cast<uint8_t>(u.sc[2 * j]);
      mn[j] = u.mn[2 * j];
    }
    store_u16(dst, d);
    store_u16(dst + 2, dmin);
    pack_scale_min_k4(sc, mn, dst + 4);
    pack_4bit(u.q, dst + (five ? 48 : 16));
    if (five) pack_high(u.q, 4, dst + 16);
  } else {
    auto* b = reinterpret_cast<BlockQ6K*>(dst);
    pack_q6(u.q, b->ql, b->qh);
    std::memcpy(b->scales, u.sc, 16);
    store_u16(b->d, d);
  }
}

}  // namespace

void dequantize_kquant(GgmlType type, const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const int off = kq_offset(type);
  KUnpacked u;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    unpack_kquant(type, p + i * kq_block_bytes(type), &u);
    float* out = dst + i * kSuperBlock;
    for (int e = 0; e < 256; ++e) {
      const float dl = u.d * static_cast<float>(u.sc[e / 16]);
      const float ml = u.dmin * static_cast<float>(u.mn[e / 16]);
      out[e] = dl * static_cast<float>(u.q[e] - off) - ml;
    }
  }
}

void quantize_kquant(GgmlType type, const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  KUnpacked u;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    quantize_super(type, src + i * kSuperBlock, &u);
    pack_kquant(type, u, p + i * kq_block_bytes(type));
  }
}

}  // namespace rs::engine::kern
