#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "rs/engine/kernels.h"

namespace rs::engine {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(KernelsConvert, Fp16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f)))) << h;
      continue;
    }
    EXPECT_EQ(fp32_to_fp16(f), h) << h;
  }
}

TEST(KernelsConvert, Fp16KnownValues) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);  // rounds to infinity
  EXPECT_EQ(fp32_to_fp16(1e-8f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(5.9604644775390625e-8f), 0x0001);  // smallest subnormal
  EXPECT_FLOAT_EQ(fp16_to_fp32(0x0001), 5.9604644775390625e-8f);
  EXPECT_FLOAT_EQ(fp16_to_fp32(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isinf(fp16_to_fp32(0xfc00)));
}

TEST(KernelsConvert, Fp16RoundsToNearestEven) {
  // Between 1.0 (0x3c00) and the next half 1 + 2^-10: the midpoint rounds to even.
  const float mid = 1.0f + std::ldexp(1.0f, -11);
  EXPECT_EQ(fp32_to_fp16(mid), 0x3c00);
  const float mid_odd = 1.0f + 3 * std::ldexp(1.0f, -11);
  EXPECT_EQ(fp32_to_fp16(mid_odd), 0x3c02);
  EXPECT_EQ(fp32_to_fp16(std::nextafter(mid, 2.0f)), 0x3c01);
  // Nearest-value property on random floats.
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-70000.0f, 70000.0f);
  for (int i = 0; i < 20000; ++i) {
    const float f = dist(rng) * (i % 2 ? 1.0f : 1e-4f);
    const uint16_t h = fp32_to_fp16(f);
    const float back = fp16_to_fp32(h);
    if (std::isinf(back)) continue;
    const float up = fp16_to_fp32(static_cast<uint16_t>(h + 1));
    const float down = fp16_to_fp32(static_cast<uint16_t>(h - 1));
    EXPECT_LE(std::fabs(back - f), std::fabs(up - f)) << f;
    EXPECT_LE(std::fabs(back - f), std::fabs(down - f)) << f;
  }
}

TEST(KernelsConvert, Bf16) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
  EXPECT_EQ(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);       // tie -> even
  EXPECT_EQ(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);   // tie -> even
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
  for (uint32_t h = 0; h < 65536; h += 7) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      EXPECT_EQ(fp32_to_bf16(f), h);
    }
    EXPECT_EQ(bits(f), h << 16);
  }
}

TEST(KernelsConvert, RowConversionFloatTypes) {
  std::vector<float> src = {0.5f, -1.25f, 3.0f, 1e-3f, -65504.0f};
  for (GgmlType t : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    std::vector<uint8_t> buf(src.size() * 4);
    std::vector<float> back(src.size());
    quantize_row(t, src.data(), buf.data(), 5);
    dequantize_row(t, buf.data(), back.data(), 5);
    for (size_t i = 0; i < src.size(); ++i) EXPECT_NEAR(back[i], src[i], std::fabs(src[i]) * 1e-2);
  }
}

TEST(KernelsConvert, Q8_0RoundTrip) {
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(96);
  for (auto& v : x) v = dist(rng);
  std::vector<uint8_t> q(3 * 34);
  quantize_row(GgmlType::kQ8_0, x.data(), q.data(), 96);
  std::vector<float> back(96);
  dequantize_row(GgmlType::kQ8_0, q.data(), back.data(), 96);
  for (int b = 0; b < 3; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    uint16_t d;
    std::memcpy(&d, q.data() + b * 34, 2);
    EXPECT_NEAR(fp16_to_fp32(d), amax / 127.0f, amax * 1e-3);
    for (int j = 0; j < 32; ++j) EXPECT_NEAR(back[b * 32 + j], x[b * 32 + j], amax / 127.0f * 0.51f + 1e-3);
  }
}

TEST(KernelsConvert, Q4_0LayoutAndRoundTrip) {
  // Block with max magnitude -8 at element 0: d = -8 / -8 = 1, so q = x + 8 exactly.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>((j % 16) - 8);
  x[0] = -8.0f;
  x[17] = 7.0f;
  std::vector<uint8_t> q(18);
  quantize_row(GgmlType::kQ4_0, x.data(), q.data(), 32);
  uint16_t d;
  std::memcpy(&d, q.data(), 2);
  EXPECT_EQ(fp16_to_fp32(d), 1.0f);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(q[2 + j] & 0x0f, static_cast<int>(x[j]) + 8) << j;
    EXPECT_EQ(q[2 + j] >> 4, static_cast<int>(x[j + 16]) + 8) << j;
  }
  std::vector<float> back(32);
  dequantize_row(GgmlType::kQ4_0, q.data(), back.data(), 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(back[j], x[j]) << j;
  // Random data: error below half a step.
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  quantize_row(GgmlType::kQ4_0, x.data(), q.data(), 32);
  dequantize_row(GgmlType::kQ4_0, q.data(), back.data(), 32);
  float amax = 0;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  for (int j = 0; j < 32; ++j) EXPECT_NEAR(back[j], x[j], amax / 8.0f * 0.51f + 1e-3);
}

}  // namespace
}  // namespace rs::engine
