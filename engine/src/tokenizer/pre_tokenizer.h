// Byte-level BPE pre-tokenizers: split text into words the way llama.cpp's
// unicode_regex_split does for the regex lists of tokenizer.ggml.pre, written by hand (no
// regex library). Pure functions: any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rs/core/result.h"

namespace rs::engine {

enum class PreTokenizerKind {
  kDefault,  // llama.cpp's fallback: punctuation runs, the GPT-2 regex, digit runs, digit triples
  kGpt2,     // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kLlama3,   // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kQwen2,    // as kLlama3 with single digits (\p{N})
  kFalcon,   // punctuation runs (with '`'), the GPT-2 regex, ASCII digit triples
  kStarcoder,     // single numbers (\p{N}), then the GPT-2 regex
  kDeepseekLlm,   // newlines, Latin/Greek/Cyrillic... letter runs, punctuation, trailing space, CJK, numbers
  kDeepseekCoder, // newlines, \s?\p{L}+, \s?\p{P}+, CJK runs, single numbers
  kDeepseekV3,    // \p{N}{1,3}, CJK/kana runs, then a llama3-like regex over \p{L}\p{M} and \p{P}\p{S}
};

struct PreTokenizerInfo {
  PreTokenizerKind kind = PreTokenizerKind::kDefault;
  bool ignore_merges = false;  // a word that is a whole token skips the merges (llama3)
  bool add_bos = false;        // default of add_bos_token for this pre-tokenizer
};

// Maps tokenizer.ggml.pre to a pre-tokenizer; "" (missing key) means "default". An unknown
// name is an unsupported error.
Result<PreTokenizerInfo> pre_tokenizer_from_name(std::string_view name);

// The words of `text` (UTF-8; bytes that are not valid UTF-8 become U+FFFD, as in llama.cpp).
std::vector<std::string> pre_tokenize(PreTokenizerKind kind, std::string_view text);

}  // namespace rs::engine
