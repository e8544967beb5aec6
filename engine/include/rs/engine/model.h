// Model: the weights and hyper-parameters of one Llama-family GGUF (architectures
// "llama" and "qwen2"), its tokenizer, and the batched forward pass. Immutable after
// load, so several engines (devices) may share one Model; forward() writes only to the
// caller's KvCache and ModelWorkspace, which belong to the calling engine thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rs/core/result.h"
#include "rs/engine/chat_template.h"
#include "rs/engine/gguf.h"
#include "rs/engine/kernels.h"
#include "rs/engine/kv_cache.h"
#include "rs/engine/tokenizer.h"

namespace rs::engine {

class ThreadPool;

struct ModelConfig {
  std::string arch;            // "llama" | "qwen2" | "qwen3"
  std::string name;            // general.name
  int n_vocab = 0;
  int dim = 0;                 // embedding_length
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;            // dim / n_heads
  int rope_dims = 0;           // rope.dimension_count (default head_dim)
  int ffn_dim = 0;
  int context_length = 0;
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
  float rms_eps = 1e-5f;
  bool rope_neox = false;      // qwen2: rotate halves; llama: interleaved pairs
  bool qkv_bias = false;
  bool qk_norm = false;        // qwen3: RMSNorm of each Q and K head before RoPE
  bool tied_output = false;    // output.weight absent: reuse token_embd
  GgmlType weight_type = GgmlType::kF32;  // type of the big matrices (for info/bench)
  uint64_t weight_bytes = 0;   // bytes of all tensors
};

// One sequence's slice of a batched forward: tokens at positions pos0.. pos0+n-1, whose
// K/V go to (and whose attention reads from) the blocks of `blocks`, which must already
// cover pos0 + tokens.size() positions.
struct ForwardSeq {
  std::span<const int32_t> tokens;
  int32_t pos0 = 0;
  std::span<const BlockId> blocks;
  bool want_logits = true;     // logits of the last token of this slice
  bool want_all_logits = false;  // logits of every token of this slice (overrides want_logits)
};

// Scratch buffers of forward(), reused across steps by one engine thread.
// Buffers only grow: after the largest batch has been seen, forward() allocates nothing.
struct ModelWorkspace {
  std::vector<float> x, xb, xb2, q, k, v, att_out, hb, hb2, scores;
  std::vector<int32_t> token_seq, token_pos;
  std::vector<float> rope_cos, rope_sin;  // per token: rope_dims/2 values
  std::vector<int32_t> logit_rows;        // token rows whose logits are wanted
  std::vector<int32_t> attn_groups;       // (first token row, n tokens) of attention groups
};

struct ModelOptions {
  // The chat template's text, replacing the GGUF's tokenizer.chat_template; nullopt: the GGUF's.
  std::optional<std::string> chat_template;
};

class Model {
 public:
  static Result<std::shared_ptr<const Model>> load(const std::string& path, const ModelOptions& options = {});
  static Result<std::shared_ptr<const Model>> from_gguf(std::unique_ptr<GgufFile> file,
                                                        const ModelOptions& options = {});
  virtual ~Model();

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const GgufFile& gguf() const { return *file_; }
  // The parsed chat template, or null when there is none or it cannot be parsed; then
  // chat_template_error() says why (a model without one still serves plain completions).
  const ChatTemplate* chat_template() const { return chat_template_.get(); }
  const std::string& chat_template_error() const { return chat_template_error_; }
  // A chat job's prompt ids: the template rendered with input, tokenized with special tokens
  // parsed, BOS prepended only when the model adds one and the rendering does not start with
  // it. invalid_argument when the model has no template or the rendering fails.
  Result<std::vector<int32_t>> chat_prompt(const ChatInput& input) const;

  // Runs every slice of `batch` together (each weight matrix read once per call) and
  // appends n_vocab logits per slice with want_logits (one row, its last token's) or
  // want_all_logits (one row per token), in batch order, to *logits (cleared first).
  Status forward(std::span<const ForwardSeq> batch, KvCache& kv, ThreadPool& pool,
                 ModelWorkspace& ws, std::vector<float>* logits,
                 KernelPath path = KernelPath::kAuto) const;

  KvCacheConfig kv_config(int block_tokens, int n_blocks, KvCacheType type) const;

 protected:
  Model() = default;
  struct Layer {
    WeightView wq, wk, wv, wo, w_gate, w_up, w_down;
    const float* attn_norm = nullptr;
    const float* ffn_norm = nullptr;
    const float* bq = nullptr;
    const float* bk = nullptr;
    const float* bv = nullptr;
    const float* q_norm = nullptr;  // qwen3: per-head RMSNorm weights (head_dim) on Q and K
    const float* k_norm = nullptr;
  };
  ModelConfig config_;
  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  const TensorInfo* token_embd_ = nullptr;
  const float* output_norm_ = nullptr;
  WeightView output_;
  std::vector<Layer> layers_;
  std::vector<std::vector<float>> owned_f32_;  // norms/biases converted to F32 when stored otherwise
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  std::vector<std::unique_ptr<uint8_t, FreeDeleter>> packed_;  // the matrices' packed copies
  std::shared_ptr<const ChatTemplate> chat_template_;
  std::string chat_template_error_;

  friend class ModelLoader;
  friend class ForwardPass;
};

}  // namespace rs::engine
