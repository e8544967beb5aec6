// bench-engine pieces: memory bandwidth probe, synthetic model cache, and the engine
// measurements (prefill, batched decode). All called from the bench's main thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rs/core/result.h"
#include "rs/engine/kv_cache.h"

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

// s in single quotes for /bin/sh.
std::string shell_quote(const std::string& s);

// The cached GGUF for spec under cache_dir, synthesized with `tool synth` when absent.
// With llama_dir, a llama-quantize mix type (q4_k_m, q5_k_m, ...) is made by
// llama_dir/llama-quantize from the F16 model of the same shape, as users make theirs.
Result<std::string> ensure_model(const ModelSpec& spec, const std::string& cache_dir, const std::string& tool,
                                 const std::string& llama_dir = "");

struct BenchParams {
  int n_threads = 2;
  int decode_tokens = 64;
  int prefill_tokens = 512;
  int decode_prompt_tokens = 16;
  std::vector<int> batch_sizes = {1, 4, 16};
  int reps = 3;  // timed repetitions of every case (after one untimed warm-up)
  engine::KvCacheType kv_cache_type = engine::KvCacheType::kF16;
};

// Loads the model and measures prefill and decode; the JSON entry of one model.
Result<nlohmann::json> bench_model(const ModelSpec& spec, const std::string& path, const BenchParams& params,
                                   double bandwidth_gbs);

// llama.cpp's figures on the same file (llama_cpp_runs.cpp): prefill_tok_s and
// decode1_tok_s from DIR/llama-bench, decode.{batch} aggregate tok/s from
// DIR/llama-batched-bench.
Result<nlohmann::json> llama_cpp_bench(const std::string& dir, const std::string& model, const BenchParams& p);
Status llama_quantize(const std::string& dir, const std::string& src, const std::string& dst,
                      const std::string& type);

}  // namespace rs::bench
