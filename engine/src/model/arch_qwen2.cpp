// Architecture "qwen2": the Llama layer with Q/K/V biases and NeoX RoPE (rotating
// x[i] with x[i + rope_dims/2]); usually rope.freq_base 1e6 and tied output.
#include "model_loader.h"

namespace rs::engine {

Status load_arch_qwen2(ModelLoader& loader) {
  RS_RETURN_IF_ERROR(loader.read_llama_hparams("qwen2"));
  loader.config().rope_neox = true;
  RS_RETURN_IF_ERROR(loader.bind_globals());
  return loader.bind_layers(/*qkv_bias=*/true);
}

}  // namespace rs::engine
