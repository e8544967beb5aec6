#include "gguf_util.h"

#include <filesystem>

namespace rs::tool {

Result<std::unique_ptr<engine::GgufFile>> open_gguf(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found("no such file: " + path);
  if (std::filesystem::is_directory(path, ec)) return invalid_argument("is a directory: " + path);
  return engine::GgufFile::open(path);
}

bool arch_supported(std::string_view arch) { return arch == "llama" || arch == "qwen2"; }

Result<Hparams> read_hparams(const engine::GgufFile& file) {
  Hparams h;
  RS_ASSIGN_OR_RETURN(std::string_view arch, file.get_string("general.architecture"));
  h.arch = std::string(arch);
  if (!arch_supported(h.arch)) return unsupported("unknown architecture '" + h.arch + "' (supported: llama, qwen2)");
  auto name = file.get_string("general.name");
  if (name.ok()) h.name = std::string(*name);
  const std::string p = h.arch + ".";
  RS_ASSIGN_OR_RETURN(h.dim, file.get_int(p + "embedding_length"));
  RS_ASSIGN_OR_RETURN(h.layers, file.get_int(p + "block_count"));
  RS_ASSIGN_OR_RETURN(h.heads, file.get_int(p + "attention.head_count"));
  h.kv_heads = file.get_int_or(p + "attention.head_count_kv", h.heads);
  RS_ASSIGN_OR_RETURN(h.ffn, file.get_int(p + "feed_forward_length"));
  h.context = file.get_int_or(p + "context_length", 0);
  h.rope_base = file.get_float_or(p + "rope.freq_base", 10000.0);
  h.rms_eps = file.get_float_or(p + "attention.layer_norm_rms_epsilon", 1e-5);
  if (h.heads <= 0 || h.dim <= 0 || h.dim % h.heads != 0) {
    return corrupt("embedding_length " + std::to_string(h.dim) + " is not a multiple of head_count " +
                   std::to_string(h.heads));
  }
  h.head_dim = h.dim / h.heads;
  h.rope_dims = file.get_int_or(p + "rope.dimension_count", h.head_dim);
  if (const auto* tokens = file.find("tokenizer.ggml.tokens"); tokens != nullptr) {
    h.vocab = static_cast<int64_t>(tokens->array_len);
  } else if (const auto* embd = file.find_tensor("token_embd.weight"); embd != nullptr && embd->dims.size() >= 2) {
    h.vocab = embd->dims[1];
  }
  return h;
}

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace rs::tool
