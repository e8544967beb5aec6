// ModelLoader: builds a Model from an opened GgufFile. The architecture files
// (arch_*.cpp) drive it: hyper-parameters, then tensor binding with shape and type checks.
// Used by one thread during Model::from_gguf only.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "rs/core/result.h"
#include "rs/engine/gguf.h"
#include "rs/engine/model.h"

namespace rs::engine {

class ModelLoader {
 public:
  explicit ModelLoader(std::unique_ptr<GgufFile> file);

  // Dispatches on general.architecture, loads the tokenizer, returns the finished model.
  Result<std::shared_ptr<const Model>> load(const ModelOptions& options);

  // --- used by the architecture files ---
  const GgufFile& file() const { return *model_->file_; }
  ModelConfig& config() { return model_->config_; }
  // Reads the `<arch>.*` hyper-parameters shared by the Llama family and checks them.
  Status read_llama_hparams(std::string_view arch);
  // token_embd, output_norm, output (tied to token_embd when absent).
  Status bind_globals();
  // blk.<i>.*: norms, attention (with biases when qkv_bias), SwiGLU FFN.
  Status bind_layers(bool qkv_bias);
  // blk.<i>.attn_q_norm / attn_k_norm (head_dim each), after bind_layers.
  Status bind_qk_norms();

 private:
  Status read_rope(std::string_view arch);  // rope.* keys (after head_dim is known)
  Result<const TensorInfo*> tensor(const std::string& name, int64_t n0, int64_t n1) const;
  Result<WeightView> matrix(const std::string& name, int64_t n_in, int64_t n_out) const;
  Result<const float*> vector_f32(const std::string& name, int64_t n);
  Status finish_config();
  void pack_matrices();
  void load_chat_template(const ModelOptions& options);

  std::shared_ptr<Model> model_;
};

// One entry point per architecture file.
Status load_arch_llama(ModelLoader& loader);
Status load_arch_qwen2(ModelLoader& loader);
Status load_arch_qwen3(ModelLoader& loader);

}  // namespace rs::engine
