#include "synth_weights.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "rs/engine/kernels.h"

namespace rs::tool {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Fills row with uniform values in [-a, a), a = sqrt(3) * std_dev (so the std is std_dev).
void fill_row(float* row, int64_t n, float std_dev, uint64_t state) {
  const float a = std::sqrt(3.0f) * std_dev;
  const float scale = 2.0f * a / 16777216.0f;  // 24-bit draws
  int64_t i = 0;
  for (; i + 1 < n; i += 2) {
    const uint64_t r = splitmix64(state);
    row[i] = static_cast<float>(r >> 40) * scale - a;
    row[i + 1] = static_cast<float>((r >> 16) & 0xFFFFFF) * scale - a;
  }
  if (i < n) row[i] = static_cast<float>(splitmix64(state) >> 40) * scale - a;
}

TensorPlan matrix(std::string name, int64_t n_in, int64_t n_out, engine::GgmlType type) {
  return {std::move(name), {n_in, n_out}, type, 1.0f / std::sqrt(static_cast<float>(n_in)), false};
}

TensorPlan norm(std::string name, int64_t n) {
  return {std::move(name), {n}, engine::GgmlType::kF32, 0.0f, true};
}

TensorPlan bias(std::string name, int64_t n) {
  return {std::move(name), {n}, engine::GgmlType::kF32, 0.1f, false};
}

// llama-quantize's Q4_K_M: attn_v and ffn_down in Q6_K for the first and last eighth of
// the layers and every third layer between (its use_more_bits).
bool more_bits(int64_t layer, int64_t n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

}  // namespace

std::vector<TensorPlan> plan_tensors(const SynthShape& s) {
  using engine::GgmlType;
  const int64_t kv_dim = s.dim / s.heads * s.kv_heads;
  std::vector<TensorPlan> plan;
  plan.push_back({"token_embd.weight", {s.dim, s.vocab}, s.type, 1.0f, false});
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    plan.push_back(norm(p + "attn_norm.weight", s.dim));
    plan.push_back(matrix(p + "attn_q.weight", s.dim, s.dim, s.type));
    plan.push_back(matrix(p + "attn_k.weight", s.dim, kv_dim, s.type));
    const GgmlType wide = s.q4_k_m && more_bits(l, s.layers) ? GgmlType::kQ6_K : s.type;
    plan.push_back(matrix(p + "attn_v.weight", s.dim, kv_dim, wide));
    if (s.arch == "qwen2") {
      plan.push_back(bias(p + "attn_q.bias", s.dim));
      plan.push_back(bias(p + "attn_k.bias", kv_dim));
      plan.push_back(bias(p + "attn_v.bias", kv_dim));
    }
    plan.push_back(matrix(p + "attn_output.weight", s.dim, s.dim, s.type));
    plan.push_back(norm(p + "ffn_norm.weight", s.dim));
    plan.push_back(matrix(p + "ffn_gate.weight", s.dim, s.ffn, s.type));
    plan.push_back(matrix(p + "ffn_up.weight", s.dim, s.ffn, s.type));
    plan.push_back(matrix(p + "ffn_down.weight", s.ffn, s.dim, wide));
  }
  plan.push_back(norm("output_norm.weight", s.dim));
  plan.push_back(matrix("output.weight", s.dim, s.vocab, s.q4_k_m ? GgmlType::kQ6_K : s.type));
  return plan;
}

namespace {
int64_t n_rows(const TensorPlan& plan) {
  int64_t rows = 1;
  for (size_t i = 1; i < plan.dims.size(); ++i) rows *= plan.dims[i];
  return rows;
}
}  // namespace

uint64_t tensor_bytes(const TensorPlan& plan) {
  return static_cast<uint64_t>(engine::ggml_row_bytes(plan.type, plan.dims[0]) * n_rows(plan));
}

void generate_tensor(const TensorPlan& plan, uint64_t seed, uint64_t tensor_index, int n_threads,
                     uint8_t* dst) {
  const int64_t n = plan.dims[0];
  const int64_t rows = n_rows(plan);
  const int64_t row_bytes = engine::ggml_row_bytes(plan.type, n);
  auto work = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      if (plan.constant_one) {
        std::fill(row.begin(), row.end(), 1.0f);
      } else {
        uint64_t state = seed * 0x9E3779B97F4A7C15ull ^ (tensor_index + 1) * 0xD6E8FEB86659FD93ull ^
                         static_cast<uint64_t>(r + 1) * 0xA0761D6478BD642Full;
        splitmix64(state);
        fill_row(row.data(), n, plan.std_dev, state);
      }
      engine::quantize_row(plan.type, row.data(), dst + r * row_bytes, n);
    }
  };
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(n_threads, rows / 64));
  if (threads == 1) {
    work(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) {
    pool.emplace_back(work, rows * t / threads, rows * (t + 1) / threads);
  }
  for (auto& th : pool) th.join();
}

}  // namespace rs::tool
