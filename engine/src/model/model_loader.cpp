// ModelLoader: hyper-parameters and tensor binding shared by the Llama-family
// architectures, with shape/type validation that turns a bad file into a clear error.
#include "model_loader.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "rs/engine/kernels.h"
#include "rs/engine/thread_pool.h"
#include "rs/engine/tokenizer.h"

namespace rs::engine {

namespace {

std::string dims_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// The dims without trailing 1s beyond the first two.
bool shape_is(const TensorInfo& t, int64_t n0, int64_t n1) {
  if (t.dims.empty()) return false;
  for (size_t i = 2; i < t.dims.size(); ++i) {
    if (t.dims[i] != 1) return false;
  }
  const int64_t d1 = t.dims.size() > 1 ? t.dims[1] : 1;
  return t.dims[0] == n0 && d1 == n1;
}

Result<int> positive_int(const GgufFile& f, const std::string& key, int64_t max = int64_t{1} << 20) {
  auto v = f.get_int(key);
  if (!v.ok()) return v.status();
  if (*v <= 0 || *v > max) {
    return corrupt("model key '" + key + "' out of range: " + std::to_string(*v));
  }
  return static_cast<int>(*v);
}

}  // namespace

ModelLoader::ModelLoader(std::unique_ptr<GgufFile> file) : model_(new Model()) {
  model_->file_ = std::move(file);
}

Result<std::shared_ptr<const Model>> ModelLoader::load(const ModelOptions& options) {
  if (!model_->file_) return invalid_argument("no GGUF file");
  RS_ASSIGN_OR_RETURN(std::string_view arch, file().get_string("general.architecture"));
  config().arch = std::string(arch);
  auto name = file().get_string("general.name");
  if (name.ok()) config().name = std::string(*name);
  if (arch == "llama") {
    RS_RETURN_IF_ERROR(load_arch_llama(*this));
  } else if (arch == "qwen2") {
    RS_RETURN_IF_ERROR(load_arch_qwen2(*this));
  } else if (arch == "qwen3") {
    RS_RETURN_IF_ERROR(load_arch_qwen3(*this));
  } else {
    return unsupported("unsupported model architecture '" + std::string(arch) +
                       "' (supported: llama, qwen2, qwen3)");
  }
  RS_RETURN_IF_ERROR(finish_config());
  pack_matrices();
  RS_ASSIGN_OR_RETURN(model_->tokenizer_, Tokenizer::from_gguf(file()));
  if (model_->tokenizer_->n_vocab() > config().n_vocab) {
    return corrupt("tokenizer has " + std::to_string(model_->tokenizer_->n_vocab()) +
                   " tokens but token_embd only " + std::to_string(config().n_vocab) + " rows");
  }
  load_chat_template(options);
  return std::shared_ptr<const Model>(std::move(model_));
}

// Not fatal: a model without a usable template serves plain completions; chat requests to
// it fail with chat_template_error().
void ModelLoader::load_chat_template(const ModelOptions& options) {
  std::string source;
  if (options.chat_template) {
    source = *options.chat_template;
  } else if (auto text = file().get_string("tokenizer.chat_template"); text.ok()) {
    source = std::string(*text);
  } else {
    model_->chat_template_error_ = "the GGUF has no tokenizer.chat_template (give one with --chat-template)";
    return;
  }
  const Tokenizer& tok = *model_->tokenizer_;
  auto token = [&tok](int32_t id) { return id >= 0 && id < tok.n_vocab() ? tok.token_text(id) : std::string(); };
  auto parsed = ChatTemplate::parse(source, token(tok.bos()), token(tok.eos()));
  if (!parsed.ok()) {
    model_->chat_template_error_ = parsed.status().message();
    return;
  }
  model_->chat_template_ = std::move(parsed).value();
}

Status ModelLoader::read_llama_hparams(std::string_view arch) {
  const GgufFile& f = file();
  const std::string p = std::string(arch) + ".";
  ModelConfig& c = config();
  RS_ASSIGN_OR_RETURN(c.dim, positive_int(f, p + "embedding_length"));
  RS_ASSIGN_OR_RETURN(c.n_layers, positive_int(f, p + "block_count", 4096));
  RS_ASSIGN_OR_RETURN(c.ffn_dim, positive_int(f, p + "feed_forward_length"));
  RS_ASSIGN_OR_RETURN(c.n_heads, positive_int(f, p + "attention.head_count", 4096));
  c.n_kv_heads = c.n_heads;
  if (f.has(p + "attention.head_count_kv")) {
    RS_ASSIGN_OR_RETURN(c.n_kv_heads, positive_int(f, p + "attention.head_count_kv", 4096));
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return corrupt("head_count " + std::to_string(c.n_heads) + " is not a multiple of head_count_kv " +
                   std::to_string(c.n_kv_heads));
  }
  if (f.has(p + "attention.key_length")) {
    RS_ASSIGN_OR_RETURN(c.head_dim, positive_int(f, p + "attention.key_length"));
    const int64_t vlen = f.get_int_or(p + "attention.value_length", c.head_dim);
    if (vlen != c.head_dim) return unsupported("attention.value_length != key_length");
  } else {
    if (c.dim % c.n_heads != 0) return corrupt("embedding_length not a multiple of head_count");
    c.head_dim = c.dim / c.n_heads;
  }
  c.rms_eps = static_cast<float>(f.get_float_or(p + "attention.layer_norm_rms_epsilon", 1e-5));
  c.context_length = static_cast<int>(f.get_int_or(p + "context_length", 2048));
  if (c.context_length <= 0) c.context_length = 2048;
  if (!(c.rms_eps >= 0.0f)) return corrupt("bad rms epsilon");
  return read_rope(arch);
}

Status ModelLoader::read_rope(std::string_view arch) {
  const GgufFile& f = file();
  const std::string p = std::string(arch) + ".";
  ModelConfig& c = config();
  c.rope_dims = c.head_dim;
  if (f.has(p + "rope.dimension_count")) {
    RS_ASSIGN_OR_RETURN(c.rope_dims, positive_int(f, p + "rope.dimension_count"));
  }
  if (c.rope_dims > c.head_dim || c.rope_dims % 2 != 0) {
    return corrupt("rope.dimension_count " + std::to_string(c.rope_dims) + " invalid for head_dim " +
                   std::to_string(c.head_dim));
  }
  c.rope_base = static_cast<float>(f.get_float_or(p + "rope.freq_base", 10000.0));
  if (!(c.rope_base > 0.0f)) return corrupt("bad rope.freq_base");
  if (f.has(p + "rope.scaling.type")) {
    RS_ASSIGN_OR_RETURN(std::string_view type, f.get_string(p + "rope.scaling.type"));
    if (type == "linear") {
      const double factor = f.get_float_or(p + "rope.scaling.factor", 1.0);
      if (!(factor > 0.0)) return corrupt("bad rope.scaling.factor");
      c.rope_freq_scale = static_cast<float>(1.0 / factor);
    } else if (type != "none") {
      return unsupported("rope scaling '" + std::string(type) + "' is not supported");
    }
  }
  return {};
}

Result<const TensorInfo*> ModelLoader::tensor(const std::string& name, int64_t n0, int64_t n1) const {
  const TensorInfo* t = file().find_tensor(name);
  if (t == nullptr) return not_found("model tensor '" + name + "' is missing");
  if (!shape_is(*t, n0, n1)) {
    return corrupt("model tensor '" + name + "' has shape " + dims_string(t->dims) + ", expected " +
                   dims_string({n0, n1}));
  }
  if (!ggml_type_supported(t->type)) {
    return unsupported("model tensor '" + name + "' has unsupported type " +
                       std::string(ggml_type_name(t->type)) + " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
  }
  if (n0 % ggml_block_elems(t->type) != 0) {
    return corrupt("model tensor '" + name + "' row length is not a multiple of its block size");
  }
  return t;
}

void Model::FreeDeleter::operator()(void* p) const { std::free(p); }

// The matrices the AVX-512 kernels read faster packed (Q4_K) get their copy, made once
// here and shared by every engine of the model.
void ModelLoader::pack_matrices() {
  std::vector<WeightView*> views{&model_->output_};
  for (Model::Layer& l : model_->layers_) {
    for (WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) views.push_back(w);
  }
  std::unique_ptr<ThreadPool> pool;
  for (WeightView* w : views) {
    const int64_t bytes = packed_weight_bytes(*w);
    if (bytes <= 0) continue;
    if (!pool) pool = std::make_unique<ThreadPool>(0);
    void* p = std::aligned_alloc(64, static_cast<size_t>(bytes));
    if (p == nullptr) continue;  // out of memory: the unpacked kernels still serve
    model_->packed_.emplace_back(static_cast<uint8_t*>(p));
    pack_weight(*w, p, pool.get());
    w->packed = p;
    // The AVX-512 kernels read only the copy now; the embedding table (a tied output) is
    // still read by rows.
    if (model_->token_embd_ == nullptr || w->data != model_->token_embd_->data) {
      file().release_pages(w->data, static_cast<uint64_t>(w->row_bytes * w->n_out));
    }
  }
}

Result<WeightView> ModelLoader::matrix(const std::string& name, int64_t n_in, int64_t n_out) const {
  RS_ASSIGN_OR_RETURN(const TensorInfo* t, tensor(name, n_in, n_out));
  WeightView w;
  w.type = t->type;
  w.data = t->data;
  w.n_in = n_in;
  w.n_out = n_out;
  w.row_bytes = ggml_row_bytes(t->type, n_in);
  return w;
}

Result<const float*> ModelLoader::vector_f32(const std::string& name, int64_t n) {
  RS_ASSIGN_OR_RETURN(const TensorInfo* t, tensor(name, n, 1));
  if (t->type == GgmlType::kF32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0) {
    return reinterpret_cast<const float*>(t->data);
  }
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(t->type, t->data, out.data(), n);
  model_->owned_f32_.push_back(std::move(out));
  return static_cast<const float*>(model_->owned_f32_.back().data());
}

Status ModelLoader::bind_globals() {
  const TensorInfo* embd = file().find_tensor("token_embd.weight");
  if (embd == nullptr) return not_found("model tensor 'token_embd.weight' is missing");
  if (embd->dims.size() < 2 || embd->dims[1] <= 0 || embd->dims[1] > (int64_t{1} << 24)) {
    return corrupt("model tensor 'token_embd.weight' has shape " + dims_string(embd->dims));
  }
  const int64_t n_vocab = embd->dims[1];
  ModelConfig& c = config();
  c.n_vocab = static_cast<int>(n_vocab);
  RS_ASSIGN_OR_RETURN(model_->token_embd_, tensor("token_embd.weight", c.dim, n_vocab));
  RS_ASSIGN_OR_RETURN(model_->output_norm_, vector_f32("output_norm.weight", c.dim));
  c.tied_output = file().find_tensor("output.weight") == nullptr;
  const std::string out_name = c.tied_output ? "token_embd.weight" : "output.weight";
  RS_ASSIGN_OR_RETURN(model_->output_, matrix(out_name, c.dim, n_vocab));
  return {};
}

Status ModelLoader::bind_layers(bool qkv_bias) {
  ModelConfig& c = config();
  c.qkv_bias = qkv_bias;
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  model_->layers_.assign(static_cast<size_t>(c.n_layers), Model::Layer{});
  for (int i = 0; i < c.n_layers; ++i) {
    Model::Layer& l = model_->layers_[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    RS_ASSIGN_OR_RETURN(l.attn_norm, vector_f32(p + "attn_norm.weight", c.dim));
    RS_ASSIGN_OR_RETURN(l.ffn_norm, vector_f32(p + "ffn_norm.weight", c.dim));
    RS_ASSIGN_OR_RETURN(l.wq, matrix(p + "attn_q.weight", c.dim, q_dim));
    RS_ASSIGN_OR_RETURN(l.wk, matrix(p + "attn_k.weight", c.dim, kv_dim));
    RS_ASSIGN_OR_RETURN(l.wv, matrix(p + "attn_v.weight", c.dim, kv_dim));
    RS_ASSIGN_OR_RETURN(l.wo, matrix(p + "attn_output.weight", q_dim, c.dim));
    RS_ASSIGN_OR_RETURN(l.w_gate, matrix(p + "ffn_gate.weight", c.dim, c.ffn_dim));
    RS_ASSIGN_OR_RETURN(l.w_up, matrix(p + "ffn_up.weight", c.dim, c.ffn_dim));
    RS_ASSIGN_OR_RETURN(l.w_down, matrix(p + "ffn_down.weight", c.ffn_dim, c.dim));
    if (qkv_bias) {
      RS_ASSIGN_OR_RETURN(l.bq, vector_f32(p + "attn_q.bias", q_dim));
      RS_ASSIGN_OR_RETURN(l.bk, vector_f32(p + "attn_k.bias", kv_dim));
      RS_ASSIGN_OR_RETURN(l.bv, vector_f32(p + "attn_v.bias", kv_dim));
    }
  }
  return {};
}

Status ModelLoader::bind_qk_norms() {
  ModelConfig& c = config();
  c.qk_norm = true;
  for (int i = 0; i < c.n_layers; ++i) {
    Model::Layer& l = model_->layers_[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    RS_ASSIGN_OR_RETURN(l.q_norm, vector_f32(p + "attn_q_norm.weight", c.head_dim));
    RS_ASSIGN_OR_RETURN(l.k_norm, vector_f32(p + "attn_k_norm.weight", c.head_dim));
  }
  return {};
}

Status ModelLoader::finish_config() {
  ModelConfig& c = config();
  std::map<GgmlType, uint64_t> bytes_by_type;
  c.weight_bytes = 0;
  for (const TensorInfo& t : file().tensors()) {
    c.weight_bytes += t.n_bytes;
    if (t.dims.size() >= 2 && t.dims[1] > 1) bytes_by_type[t.type] += t.n_bytes;
  }
  uint64_t best = 0;
  for (const auto& [type, n] : bytes_by_type) {
    if (n > best) {
      best = n;
      c.weight_type = type;
    }
  }
  return {};
}

}  // namespace rs::engine
