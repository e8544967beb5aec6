// Tokenizer::from_gguf: reads and validates tokenizer.ggml.* into VocabData, then builds
// the family named by tokenizer.ggml.model.
#include <limits>
#include <string>

#include "rs/engine/gguf.h"
#include "tokenizer_impl.h"

namespace rs::engine {
namespace {

constexpr std::string_view kPrefix = "tokenizer.ggml.";

std::string key(std::string_view name) { return std::string(kPrefix) + std::string(name); }

Status read_tokens(const GgufFile& f, VocabData& v) {
  RS_ASSIGN_OR_RETURN(std::vector<std::string_view> tokens, f.get_string_array(key("tokens")));
  if (tokens.empty()) return corrupt("tokenizer.ggml.tokens is empty");
  if (tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return corrupt("tokenizer.ggml.tokens has too many entries");
  }
  const size_t n = tokens.size();
  v.tokens.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // As llama.cpp: an empty token text gets a placeholder so that lookups stay unique.
    v.tokens.emplace_back(tokens[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : std::string(tokens[i]));
  }
  v.types.assign(n, TokenType::kNormal);
  if (f.has(key("token_type"))) {
    RS_ASSIGN_OR_RETURN(std::vector<int64_t> types, f.get_int_array(key("token_type")));
    if (types.size() != n) {
      return corrupt("tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                     std::to_string(n) + " tokens");
    }
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > static_cast<int64_t>(TokenType::kByte)) {
        return corrupt("token " + std::to_string(i) + " has unknown type " + std::to_string(types[i]));
      }
      v.types[i] = static_cast<TokenType>(types[i]);
    }
  }
  if (f.has(key("scores"))) {
    RS_ASSIGN_OR_RETURN(v.scores, f.get_float_array(key("scores")));
    if (v.scores.size() != n) {
      return corrupt("tokenizer.ggml.scores has " + std::to_string(v.scores.size()) + " entries for " +
                     std::to_string(n) + " tokens");
    }
  }
  return Status();
}

// A special token id: absent (or the "none" value 0xFFFFFFFF / negative) keeps `id`;
// a value past the vocabulary is an error. A default past the vocabulary becomes -1.
Status read_special(const GgufFile& f, std::string_view name, int32_t n_vocab, int32_t& id) {
  if (id >= n_vocab) id = -1;
  if (!f.has(key(name))) return Status();
  RS_ASSIGN_OR_RETURN(int64_t value, f.get_int(key(name)));
  if (value < 0 || value == 0xFFFFFFFFll) return Status();
  if (value >= n_vocab) {
    return corrupt("tokenizer.ggml." + std::string(name) + " = " + std::to_string(value) +
                   " is outside the vocabulary of " + std::to_string(n_vocab));
  }
  id = static_cast<int32_t>(value);
  return Status();
}

Status read_bool(const GgufFile& f, std::string_view name, bool& value) {
  if (!f.has(key(name))) return Status();
  RS_ASSIGN_OR_RETURN(value, f.get_bool(key(name)));
  return Status();
}

Status read_specials(const GgufFile& f, VocabData& v) {
  const auto n = static_cast<int32_t>(v.tokens.size());
  RS_RETURN_IF_ERROR(read_special(f, "bos_token_id", n, v.bos));
  RS_RETURN_IF_ERROR(read_special(f, "eos_token_id", n, v.eos));
  RS_RETURN_IF_ERROR(read_special(f, "eot_token_id", n, v.eot));
  RS_RETURN_IF_ERROR(read_special(f, "eom_token_id", n, v.eom));
  RS_RETURN_IF_ERROR(read_special(f, "unknown_token_id", n, v.unk));
  RS_RETURN_IF_ERROR(read_special(f, "seperator_token_id", n, v.sep));  // llama.cpp's spelling
  RS_RETURN_IF_ERROR(read_bool(f, "add_bos_token", v.add_bos));
  RS_RETURN_IF_ERROR(read_bool(f, "add_eos_token", v.add_eos));
  RS_RETURN_IF_ERROR(read_bool(f, "add_sep_token", v.add_sep));
  RS_RETURN_IF_ERROR(read_bool(f, "add_space_prefix", v.add_space_prefix));
  if (v.add_bos && v.bos < 0) return corrupt("the tokenizer adds a BOS token but has none");
  if (v.add_eos && v.eos < 0) return corrupt("the tokenizer adds an EOS token but has none");
  return Status();
}

Status read_bpe(const GgufFile& f, VocabData& v) {
  if (!f.has(key("merges"))) return corrupt("gpt2 tokenizer without tokenizer.ggml.merges");
  RS_ASSIGN_OR_RETURN(v.merges, f.get_string_array(key("merges")));
  std::string_view pre;
  if (f.has(key("pre"))) {
    RS_ASSIGN_OR_RETURN(pre, f.get_string(key("pre")));
  }
  RS_ASSIGN_OR_RETURN(v.pre, pre_tokenizer_from_name(pre));
  v.pre_name = pre.empty() ? "default" : std::string(pre);
  return Status();
}

// llama.cpp's defaults for WordPiece vocabularies, before the tokenizer.ggml.* keys; the
// leading [CLS] may be given as cls_token_id (older converters) as well as bos_token_id.
Status set_wpm_defaults(const GgufFile& f, VocabData& v) {
  v.bos = 101;  // [CLS]
  v.unk = 100;  // [UNK]
  v.sep = 102;  // [SEP]
  v.add_bos = true;
  v.add_sep = true;
  v.add_space_prefix = false;
  RS_RETURN_IF_ERROR(read_special(f, "cls_token_id", static_cast<int32_t>(v.tokens.size()), v.bos));
  // BertNormalizer: strip_accents follows lowercase unless given.
  RS_RETURN_IF_ERROR(read_bool(f, "normalizer.lowercase", v.lowercase));
  v.strip_accents = v.lowercase;
  return read_bool(f, "normalizer.strip_accents", v.strip_accents);
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& file) {
  RS_ASSIGN_OR_RETURN(std::string_view model, file.get_string(key("model")));
  const bool spm = model == "llama";
  const bool wpm = model == "bert";
  if (!spm && !wpm && model != "gpt2") {
    return unsupported("unsupported tokenizer model '" + std::string(model) + "' (tokenizer.ggml.model)");
  }
  VocabData v;
  RS_RETURN_IF_ERROR(read_tokens(file, v));
  if (spm) {
    v.bos = 1;
    v.eos = 2;
    v.unk = 0;
    v.add_bos = true;
  } else if (wpm) {
    RS_RETURN_IF_ERROR(set_wpm_defaults(file, v));
  } else {
    RS_RETURN_IF_ERROR(read_bpe(file, v));
    v.bos = 11;
    v.eos = 11;
    v.add_bos = v.pre.add_bos;
    v.add_space_prefix = false;
  }
  RS_RETURN_IF_ERROR(read_specials(file, v));
  if (spm) return SpmTokenizer::create(std::move(v));
  if (wpm) return WpmTokenizer::create(std::move(v));
  return BpeTokenizer::create(std::move(v));
}

}  // namespace rs::engine
