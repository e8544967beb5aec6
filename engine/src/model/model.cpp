// Model: loading entry points and KV cache geometry. The forward pass is in
// transformer.cpp (layer loop) and attention.cpp (RoPE, KV writes, attention).
#include "rs/engine/model.h"

#include <utility>

#include "model_loader.h"

namespace rs::engine {

Model::~Model() = default;

Result<std::shared_ptr<const Model>> Model::load(const std::string& path) {
  RS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::open(path));
  return from_gguf(std::move(file));
}

Result<std::shared_ptr<const Model>> Model::from_gguf(std::unique_ptr<GgufFile> file) {
  ModelLoader loader(std::move(file));
  return loader.load();
}

KvCacheConfig Model::kv_config(int block_tokens, int n_blocks) const {
  KvCacheConfig c;
  c.n_layers = config_.n_layers;
  c.n_kv_heads = config_.n_kv_heads;
  c.head_dim = config_.head_dim;
  c.block_tokens = block_tokens;
  c.n_blocks = n_blocks;
  return c;
}

}  // namespace rs::engine
