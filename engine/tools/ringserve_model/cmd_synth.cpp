// `ringserve-model synth ... OUT`: writes a GGUF v3 with seeded random weights, the
// llama.cpp hyper-parameter keys, a tokenizer (copied with --vocab-from, or the
// built-in byte-level vocabulary) and a ChatML chat template (examples/chat/chatml.jinja).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "chatml_template.h"
#include "commands.h"
#include "gguf_util.h"
#include "rs/engine/tokenizer.h"
#include "synth_weights.h"

namespace rs::tool {
namespace {

using engine::GgmlType;
using engine::GgufType;

constexpr const char* kTypeNames =
    "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_k, q3_k, q4_k, q5_k, q6_k, q4_k_m";

// Every weight type the engine computes with, by ggml name; "q4_k_m" is Q4_K with
// llama-quantize's Q4_K_M choices (see plan_tensors).
Result<GgmlType> parse_type(const std::string& t) {
  if (t == "q4_k_m") return GgmlType::kQ4_K;
  for (uint32_t id = 0; id < 64; ++id) {
    const auto type = static_cast<GgmlType>(id);
    if (engine::ggml_type_supported(type) && engine::ggml_type_name(type) == t) return type;
  }
  return invalid_argument("unknown --type '" + t + "' (" + kTypeNames + ")");
}

// llama_ftype of the file: ALL_F32 0, MOSTLY_F16 1, Q4_0 2, Q4_1 3, Q8_0 7, Q5_0 8, Q5_1 9,
// Q2_K 10, Q3_K_S 11, Q4_K_S 14, Q4_K_M 15, Q5_K_S 16, Q6_K 18, IQ4_NL 25, BF16 32.
uint32_t file_type_of(GgmlType t, bool q4_k_m) {
  switch (t) {
    case GgmlType::kF32: return 0;
    case GgmlType::kF16: return 1;
    case GgmlType::kQ4_0: return 2;
    case GgmlType::kQ4_1: return 3;
    case GgmlType::kQ8_0: return 7;
    case GgmlType::kQ5_0: return 8;
    case GgmlType::kQ5_1: return 9;
    case GgmlType::kQ2_K: return 10;
    case GgmlType::kQ3_K: return 11;
    case GgmlType::kQ4_K: return q4_k_m ? 15 : 14;
    case GgmlType::kQ5_K: return 16;
    case GgmlType::kQ6_K: return 18;
    case GgmlType::kIQ4_NL: return 25;
    case GgmlType::kBF16: return 32;
  }
  return 0;
}

Status validate(const SynthOptions& o, GgmlType type) {
  if (!arch_supported(o.arch)) return invalid_argument("unknown --arch '" + o.arch + "' (llama, qwen2)");
  constexpr int kMax = 1 << 16;
  auto in_range = [&](int v) { return v > 0 && v <= kMax; };
  if (!in_range(o.dim) || !in_range(o.layers) || !in_range(o.heads) || !in_range(o.kv_heads) ||
      !in_range(o.ffn)) {
    return invalid_argument("--dim, --layers, --heads, --kv-heads and --ffn must be in 1.." + std::to_string(kMax));
  }
  if (o.ctx <= 0) return invalid_argument("--ctx must be > 0");
  if (o.dim % o.heads != 0) return invalid_argument("--dim must be a multiple of --heads");
  if (o.heads % o.kv_heads != 0) return invalid_argument("--heads must be a multiple of --kv-heads");
  if ((o.dim / o.heads) % 2 != 0) return invalid_argument("head_dim (dim/heads) must be even for RoPE");
  const int64_t block = engine::ggml_block_elems(type);
  if (o.dim % block != 0 || o.ffn % block != 0) {
    return invalid_argument("--dim and --ffn must be multiples of " + std::to_string(block) + " for " + o.type);
  }
  return Status();
}

// Copies one tokenizer.ggml.* key from src into w, keeping its type family.
Status copy_key(const engine::GgufFile& src, const std::string& key, const engine::GgufValue& v,
                engine::GgufWriter& w) {
  switch (v.type) {
    case GgufType::kString: {
      RS_ASSIGN_OR_RETURN(std::string_view s, src.get_string(key));
      w.add_string(key, std::string(s));
      return Status();
    }
    case GgufType::kBool: w.add_bool(key, std::get<int64_t>(v.scalar) != 0); return Status();
    case GgufType::kF32:
    case GgufType::kF64: w.add_f32(key, static_cast<float>(std::get<double>(v.scalar))); return Status();
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64: w.add_i32(key, static_cast<int32_t>(std::get<int64_t>(v.scalar))); return Status();
    case GgufType::kArray: break;
    default: w.add_u32(key, static_cast<uint32_t>(std::get<int64_t>(v.scalar))); return Status();
  }
  if (v.array_type == GgufType::kString) {
    RS_ASSIGN_OR_RETURN(auto arr, src.get_string_array(key));
    w.add_string_array(key, std::vector<std::string>(arr.begin(), arr.end()));
  } else if (v.array_type == GgufType::kF32 || v.array_type == GgufType::kF64) {
    RS_ASSIGN_OR_RETURN(auto arr, src.get_float_array(key));
    w.add_f32_array(key, std::move(arr));
  } else {
    RS_ASSIGN_OR_RETURN(auto arr, src.get_int_array(key));
    w.add_i32_array(key, std::vector<int32_t>(arr.begin(), arr.end()));
  }
  return Status();
}

// Writes the tokenizer keys and returns the vocabulary size.
Result<int64_t> add_tokenizer(const SynthOptions& o, engine::GgufWriter& w) {
  if (o.vocab_from.empty()) {
    engine::ByteLevelVocab v = engine::make_byte_level_vocab();
    const auto n = static_cast<int64_t>(v.tokens.size());
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string("tokenizer.ggml.pre", "gpt-2");
    w.add_string_array("tokenizer.ggml.tokens", std::move(v.tokens));
    w.add_i32_array("tokenizer.ggml.token_type", std::move(v.token_types));
    w.add_string_array("tokenizer.ggml.merges", std::move(v.merges));
    w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
    w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
    return n;
  }
  RS_ASSIGN_OR_RETURN(auto src, open_gguf(o.vocab_from));
  const engine::GgufValue* tokens = src->find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->type != GgufType::kArray || tokens->array_len == 0) {
    return invalid_argument(o.vocab_from + " has no tokenizer.ggml.tokens");
  }
  for (const auto& [key, value] : src->metadata()) {
    if (key.rfind("tokenizer.ggml.", 0) != 0) continue;
    RS_RETURN_IF_ERROR(copy_key(*src, key, value, w));
  }
  return static_cast<int64_t>(tokens->array_len);
}

void add_hparams(const SynthOptions& o, GgmlType type, engine::GgufWriter& w) {
  w.add_string("tokenizer.chat_template", kChatmlTemplate);  // chat works on every synth model
  const std::string p = o.arch + ".";
  const bool qwen = o.arch == "qwen2";
  w.add_string("general.architecture", o.arch);
  w.add_string("general.name", "synth-" + o.arch + "-d" + std::to_string(o.dim) + "-l" +
                                   std::to_string(o.layers) + "-" + o.type);
  w.add_u32("general.file_type", file_type_of(type, o.type == "q4_k_m"));
  w.add_u32(p + "context_length", static_cast<uint32_t>(o.ctx));
  w.add_u32(p + "embedding_length", static_cast<uint32_t>(o.dim));
  w.add_u32(p + "block_count", static_cast<uint32_t>(o.layers));
  w.add_u32(p + "feed_forward_length", static_cast<uint32_t>(o.ffn));
  w.add_u32(p + "attention.head_count", static_cast<uint32_t>(o.heads));
  w.add_u32(p + "attention.head_count_kv", static_cast<uint32_t>(o.kv_heads));
  w.add_u32(p + "rope.dimension_count", static_cast<uint32_t>(o.dim / o.heads));
  w.add_f32(p + "rope.freq_base", qwen ? 1000000.0f : 10000.0f);
  w.add_f32(p + "attention.layer_norm_rms_epsilon", qwen ? 1e-6f : 1e-5f);
}

}  // namespace

int run_synth(const SynthOptions& opts) {
  auto type = parse_type(opts.type);
  if (!type.ok()) return fail("synth", type.status());
  if (Status s = validate(opts, *type); !s.ok()) return fail("synth", s);
  const auto t0 = std::chrono::steady_clock::now();
  engine::GgufWriter writer;
  add_hparams(opts, *type, writer);
  auto vocab = add_tokenizer(opts, writer);
  if (!vocab.ok()) return fail("synth: --vocab-from " + opts.vocab_from, vocab.status());
  SynthShape shape{opts.arch, opts.dim, opts.layers, opts.heads, opts.kv_heads, opts.ffn, *vocab, *type,
                   opts.type == "q4_k_m"};
  const int n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::vector<TensorPlan> plan = plan_tensors(shape);
  uint64_t n_bytes = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    // Generated while writing: a 1.1B-parameter model never sits in memory whole.
    n_bytes += tensor_bytes(plan[i]);
    const TensorPlan* p = &plan[i];
    const uint64_t seed = opts.seed;
    writer.add_tensor_lazy(p->name, p->dims, p->type,
                           [p, seed, i, n_threads](uint8_t* dst) { generate_tensor(*p, seed, i, n_threads, dst); });
  }
  if (Status s = writer.write(opts.out); !s.ok()) return fail("synth: writing " + opts.out, s);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "synth: wrote %s (%zu tensors, %.1f MiB, vocab %lld) in %.2f s\n", opts.out.c_str(),
               plan.size(), static_cast<double>(n_bytes) / (1024.0 * 1024.0), static_cast<long long>(*vocab),
               secs);
  return 0;
}

}  // namespace rs::tool
