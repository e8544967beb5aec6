// Tiny seeded-random Llama-family GGUF models built in memory for the model unit tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "rs/engine/gguf.h"
#include "rs/engine/kernels.h"
#include "rs/engine/model.h"
#include "rs/engine/tokenizer.h"

namespace rs::engine::test {

struct SynthSpec {
  std::string arch = "llama";
  int dim = 32;
  int n_layers = 2;
  int n_heads = 4;
  int n_kv_heads = 2;
  int ffn = 48;
  int ctx = 128;
  int rope_dims = 0;  // 0: head_dim
  GgmlType type = GgmlType::kF32;
  bool tied = false;
  std::set<std::string> skip;       // tensors left out
  std::string bad_shape;            // a tensor written with a wrong shape
  uint32_t seed = 1;
};

class Lcg {
 public:
  explicit Lcg(uint32_t seed) : s_(seed * 2654435761u + 1) {}
  float next() {  // uniform in [-1, 1)
    s_ = s_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>((s_ >> 40) & 0xffffff) / 8388608.0f - 1.0f;
  }

 private:
  uint64_t s_;
};

inline std::vector<uint8_t> encode_rows(GgmlType type, const std::vector<float>& v, int64_t n_in) {
  const int64_t n_rows = static_cast<int64_t>(v.size()) / n_in;
  const int64_t rb = ggml_row_bytes(type, n_in);
  std::vector<uint8_t> out(static_cast<size_t>(rb * n_rows));
  for (int64_t r = 0; r < n_rows; ++r) quantize_row(type, v.data() + r * n_in, out.data() + r * rb, n_in);
  return out;
}

inline void add_synth_tensor(GgufWriter& w, const SynthSpec& s, Lcg& rng, const std::string& name, int64_t n0,
                             int64_t n1, bool is_norm) {
  if (s.skip.count(name) != 0) return;
  std::vector<float> v(static_cast<size_t>(n0 * n1));
  const float scale = is_norm ? 0.2f : 1.0f / std::sqrt(static_cast<float>(n0));
  for (float& x : v) x = (is_norm ? 1.0f : 0.0f) + scale * rng.next();
  const GgmlType type = is_norm ? GgmlType::kF32 : s.type;
  if (name == s.bad_shape) n0 += (type == GgmlType::kF32 ? 1 : 32), v.resize(static_cast<size_t>(n0 * n1));
  std::vector<int64_t> dims = n1 == 1 ? std::vector<int64_t>{n0} : std::vector<int64_t>{n0, n1};
  w.add_tensor(name, dims, type, encode_rows(type, v, n0));
}

inline std::vector<uint8_t> synth_gguf(const SynthSpec& s) {
  GgufWriter w;
  const std::string p = s.arch + ".";
  w.add_string("general.architecture", s.arch);
  w.add_string("general.name", "unit-synth");
  w.add_u32(p + "context_length", static_cast<uint32_t>(s.ctx));
  w.add_u32(p + "embedding_length", static_cast<uint32_t>(s.dim));
  w.add_u32(p + "block_count", static_cast<uint32_t>(s.n_layers));
  w.add_u32(p + "feed_forward_length", static_cast<uint32_t>(s.ffn));
  w.add_u32(p + "attention.head_count", static_cast<uint32_t>(s.n_heads));
  w.add_u32(p + "attention.head_count_kv", static_cast<uint32_t>(s.n_kv_heads));
  if (s.rope_dims > 0) w.add_u32(p + "rope.dimension_count", static_cast<uint32_t>(s.rope_dims));
  w.add_f32(p + "attention.layer_norm_rms_epsilon", 1e-5f);
  ByteLevelVocab v = make_byte_level_vocab();
  const int64_t n_vocab = static_cast<int64_t>(v.tokens.size());
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "gpt-2");
  w.add_string_array("tokenizer.ggml.tokens", std::move(v.tokens));
  w.add_i32_array("tokenizer.ggml.token_type", std::move(v.token_types));
  w.add_string_array("tokenizer.ggml.merges", std::move(v.merges));
  w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));

  Lcg rng(s.seed);
  const int64_t hd = s.dim / s.n_heads;
  const int64_t q_dim = hd * s.n_heads;
  const int64_t kv_dim = hd * s.n_kv_heads;
  add_synth_tensor(w, s, rng, "token_embd.weight", s.dim, n_vocab, false);
  add_synth_tensor(w, s, rng, "output_norm.weight", s.dim, 1, true);
  if (!s.tied) add_synth_tensor(w, s, rng, "output.weight", s.dim, n_vocab, false);
  for (int i = 0; i < s.n_layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    add_synth_tensor(w, s, rng, b + "attn_norm.weight", s.dim, 1, true);
    add_synth_tensor(w, s, rng, b + "ffn_norm.weight", s.dim, 1, true);
    add_synth_tensor(w, s, rng, b + "attn_q.weight", s.dim, q_dim, false);
    add_synth_tensor(w, s, rng, b + "attn_k.weight", s.dim, kv_dim, false);
    add_synth_tensor(w, s, rng, b + "attn_v.weight", s.dim, kv_dim, false);
    add_synth_tensor(w, s, rng, b + "attn_output.weight", q_dim, s.dim, false);
    add_synth_tensor(w, s, rng, b + "ffn_gate.weight", s.dim, s.ffn, false);
    add_synth_tensor(w, s, rng, b + "ffn_up.weight", s.dim, s.ffn, false);
    add_synth_tensor(w, s, rng, b + "ffn_down.weight", s.ffn, s.dim, false);
    if (s.arch == "qwen2") {
      add_synth_tensor(w, s, rng, b + "attn_q.bias", q_dim, 1, true);
      add_synth_tensor(w, s, rng, b + "attn_k.bias", kv_dim, 1, true);
      add_synth_tensor(w, s, rng, b + "attn_v.bias", kv_dim, 1, true);
    }
  }
  return w.serialize();
}

// Owns the bytes the model's GgufFile points into.
struct SynthModel {
  std::shared_ptr<std::vector<uint8_t>> bytes;
  std::shared_ptr<const Model> model;
};

inline Result<SynthModel> load_synth(const SynthSpec& s) {
  SynthModel out;
  out.bytes = std::make_shared<std::vector<uint8_t>>(synth_gguf(s));
  auto file = GgufFile::from_buffer(*out.bytes);
  if (!file.ok()) return file.status();
  auto model = Model::from_gguf(std::move(file).value());
  if (!model.ok()) return model.status();
  out.model = *model;
  return out;
}

}  // namespace rs::engine::test
