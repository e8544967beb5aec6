// Model: loading entry points and KV cache geometry. The forward pass is in
// transformer.cpp (layer loop) and attention.cpp (RoPE, KV writes, attention).
#include "rs/engine/model.h"

#include <utility>

#include "model_loader.h"

namespace rs::engine {

Model::~Model() = default;

Result<std::shared_ptr<const Model>> Model::load(const std::string& path, const ModelOptions& options) {
  RS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::open(path));
  return from_gguf(std::move(file), options);
}

Result<std::shared_ptr<const Model>> Model::from_gguf(std::unique_ptr<GgufFile> file, const ModelOptions& options) {
  ModelLoader loader(std::move(file));
  return loader.load(options);
}

Result<std::vector<int32_t>> Model::chat_prompt(const ChatInput& input) const {
  if (chat_template_ == nullptr) return invalid_argument("model has no usable chat template: " + chat_template_error_);
  auto rendered = chat_template_->render(input);
  if (!rendered.ok()) return invalid_argument("chat template: " + rendered.status().message());
  const std::string& text = *rendered;
  const Tokenizer& tok = *tokenizer_;
  std::vector<int32_t> ids = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
  if (tok.adds_bos() && tok.bos() >= 0 && (ids.empty() || ids.front() != tok.bos())) {
    ids.insert(ids.begin(), tok.bos());
  }
  return ids;
}

KvCacheConfig Model::kv_config(int block_tokens, int n_blocks, KvCacheType type) const {
  KvCacheConfig c;
  c.type = type;
  c.n_layers = config_.n_layers;
  c.n_kv_heads = config_.n_kv_heads;
  c.head_dim = config_.head_dim;
  c.block_tokens = block_tokens;
  c.n_blocks = n_blocks;
  return c;
}

}  // namespace rs::engine
