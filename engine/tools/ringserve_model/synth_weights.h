// Seeded random weights for `ringserve-model synth`: the tensor plan of a llama/qwen2
// model and the per-row generator. Deterministic for a seed whatever the thread count
// (each row has its own PRNG stream). Called from the synth command's thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rs/engine/gguf.h"

namespace rs::tool {

struct SynthShape {
  std::string arch;  // "llama" | "qwen2"
  int64_t dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0;
  engine::GgmlType type = engine::GgmlType::kF32;
  bool q4_k_m = false;  // llama-quantize's Q4_K_M mix: Q6_K output and some attn_v / ffn_down
};

struct TensorPlan {
  std::string name;
  std::vector<int64_t> dims;  // ggml order
  engine::GgmlType type = engine::GgmlType::kF32;
  float std_dev = 0;          // 0 with constant_one: norm weights (all 1)
  bool constant_one = false;
};

// Every tensor of the model in file order.
std::vector<TensorPlan> plan_tensors(const SynthShape& shape);

// Byte size of the tensor in its type.
uint64_t tensor_bytes(const TensorPlan& plan);

// Writes tensor_bytes(plan) bytes to dst: uniform values of the plan's std_dev, quantized
// row by row to plan.type; rows split across n_threads threads.
void generate_tensor(const TensorPlan& plan, uint64_t seed, uint64_t tensor_index, int n_threads,
                     uint8_t* dst);

}  // namespace rs::tool
