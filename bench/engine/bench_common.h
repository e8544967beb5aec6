// bench-engine pieces: memory bandwidth probe, synthetic model cache, and the engine
// measurements (prefill, batched decode). All called from the bench's main thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rs/core/result.h"

namespace rs::bench {

// Best-of-reps multi-threaded streaming read bandwidth over a buffer of buffer_mib MiB, GB/s.
double measure_bandwidth_gbs(int n_threads, int64_t buffer_mib, int reps);

struct ModelSpec {
  std::string label;      // "134M", "1.1B", "tiny"
  std::string arch = "llama";
  int dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0;
  std::string type;       // a ringserve-model synth --type (f16, q8_0, q4_k_m...)
  std::string vocab_from; // "" = byte-level vocab
};

// The cached GGUF for spec under cache_dir, synthesized with `tool synth` when absent.
Result<std::string> ensure_model(const ModelSpec& spec, const std::string& cache_dir, const std::string& tool);

struct BenchParams {
  int n_threads = 2;
  int decode_tokens = 64;
  int prefill_tokens = 512;
  int decode_prompt_tokens = 16;
  std::vector<int> batch_sizes = {1, 4, 16};
  int reps = 3;  // timed repetitions of every case (after one untimed warm-up)
};

// Loads the model and measures prefill and decode; the JSON entry of one model.
Result<nlohmann::json> bench_model(const ModelSpec& spec, const std::string& path, const BenchParams& params,
                                   double bandwidth_gbs);

}  // namespace rs::bench
