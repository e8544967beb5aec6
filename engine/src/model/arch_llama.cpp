// Architecture "llama": RMSNorm, interleaved-pairs ("normal") RoPE, GQA, SwiGLU FFN,
// no attention biases; output optionally tied to token_embd.
#include "model_loader.h"

namespace rs::engine {

Status load_arch_llama(ModelLoader& loader) {
  RS_RETURN_IF_ERROR(loader.read_llama_hparams("llama"));
  loader.config().rope_neox = false;
  RS_RETURN_IF_ERROR(loader.bind_globals());
  return loader.bind_layers(/*qkv_bias=*/false);
}

}  // namespace rs::engine
