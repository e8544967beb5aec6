// Architecture "qwen3": the Llama layer without Q/K/V biases, with a per-head RMSNorm on
// Q and K (blk.N.attn_q_norm / attn_k_norm, head_dim weights each) before NeoX RoPE.
// head_dim comes from attention.key_length (it need not be embedding_length / head_count).
#include "model_loader.h"

namespace rs::engine {

Status load_arch_qwen3(ModelLoader& loader) {
  RS_RETURN_IF_ERROR(loader.read_llama_hparams("qwen3"));
  loader.config().rope_neox = true;
  RS_RETURN_IF_ERROR(loader.bind_globals());
  RS_RETURN_IF_ERROR(loader.bind_layers(/*qkv_bias=*/false));
  return loader.bind_qk_norms();
}

}  // namespace rs::engine
