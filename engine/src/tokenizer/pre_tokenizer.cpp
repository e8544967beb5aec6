// Pre-tokenizers by name (as llama.cpp's llama_vocab::impl::load maps tokenizer.ggml.pre to
// a pre-tokenizer type) and the regex list each one applies in turn (as its
// llm_tokenizer_bpe lists regex_exprs).
#include "pre_tokenizer.h"

#include <algorithm>
#include <string>

#include "pre_tokenizer_split.h"
#include "unicode.h"

namespace rs::engine {
namespace {

using namespace pretok;

// [\p{P}\$\+<=>\^~\|]+ (default) and, with the backtick, falcon's first regex.
bool is_default_punct(const TextView& t, size_t pos, size_t end) {
  if (t.has(pos, end, kPunct)) return true;
  switch (t.cp(pos)) {
    case '$': case '+': case '<': case '=': case '>': case '^': case '~': case '|': return true;
    default: return false;
  }
}

size_t match_default_punct(const TextView& t, size_t pos, size_t end) {
  size_t p = pos;
  while (p < end && is_default_punct(t, p, end)) ++p;
  return p - pos;
}

size_t match_falcon_punct(const TextView& t, size_t pos, size_t end) {
  size_t p = pos;
  while (p < end && (is_default_punct(t, p, end) || t.cp(p) == '`')) ++p;
  return p - pos;
}

struct NamedPre {
  std::string_view name;
  PreTokenizerInfo info;
};

// tokenizer.ggml.pre names and the regex list each stands for. Names of one llama.cpp type
// share a kind; the flags are that type's ignore_merges and add_bos defaults.
constexpr PreTokenizerInfo kGpt2Info{PreTokenizerKind::kGpt2, false, false};
constexpr PreTokenizerInfo kLlama3Info{PreTokenizerKind::kLlama3, true, true};
constexpr PreTokenizerInfo kLlama3LikeInfo{PreTokenizerKind::kLlama3, false, false};
constexpr PreTokenizerInfo kQwen2Info{PreTokenizerKind::kQwen2, false, false};
constexpr PreTokenizerInfo kStarcoderInfo{PreTokenizerKind::kStarcoder, false, false};
constexpr NamedPre kNamedPres[] = {
    {"default", {PreTokenizerKind::kDefault, false, false}},
    {"gpt-2", kGpt2Info}, {"phi-2", kGpt2Info}, {"roberta-bpe", kGpt2Info}, {"mpt", kGpt2Info},
    {"olmo", kGpt2Info}, {"jais", kGpt2Info}, {"gigachat", kGpt2Info}, {"jina-es", kGpt2Info},
    {"jina-de", kGpt2Info}, {"jina-v1-en", kGpt2Info}, {"jina-v2-es", kGpt2Info}, {"jina-v2-de", kGpt2Info},
    {"jina-v2-code", kGpt2Info}, {"exaone4", kGpt2Info}, {"trillion", kGpt2Info},
    {"granite-docling", kGpt2Info},
    {"llama3", kLlama3Info}, {"llama-v3", kLlama3Info}, {"llama-bpe", kLlama3Info}, {"falcon3", kLlama3Info},
    {"falcon-h1", kLlama3Info}, {"midm-2.0", kLlama3Info}, {"lfm2", kLlama3Info},
    {"dbrx", kLlama3LikeInfo}, {"smaug-bpe", kLlama3LikeInfo}, {"chatglm-bpe", kLlama3LikeInfo},
    {"qwen2", kQwen2Info}, {"deepseek-r1-qwen", kQwen2Info}, {"stablelm2", kQwen2Info}, {"megrez", kQwen2Info},
    {"hunyuan", kQwen2Info},
    {"falcon", {PreTokenizerKind::kFalcon, false, false}},
    {"starcoder", kStarcoderInfo}, {"refact", kStarcoderInfo}, {"command-r", kStarcoderInfo},
    {"smollm", kStarcoderInfo}, {"codeshell", kStarcoderInfo}, {"exaone", kStarcoderInfo},
    {"minerva-7b", kStarcoderInfo},
    {"deepseek-llm", {PreTokenizerKind::kDeepseekLlm, false, false}},
    {"deepseek-coder", {PreTokenizerKind::kDeepseekCoder, false, false}},
    {"deepseek-v3", {PreTokenizerKind::kDeepseekV3, false, false}},
    {"hunyuan-dense", {PreTokenizerKind::kDeepseekV3, false, false}},
};

Chunks split_default(const Text& t, Chunks chunks) {
  chunks = split_matches(t, chunks, match_default_punct);
  chunks = split_gpt2(t, chunks);
  chunks = split_matches(t, chunks, match_numbers);
  return split_matches(t, chunks, match_digit_triple);
}

Chunks split(PreTokenizerKind kind, const Text& t, Chunks chunks) {
  switch (kind) {
    case PreTokenizerKind::kDefault: return split_default(t, std::move(chunks));
    case PreTokenizerKind::kGpt2: return split_gpt2(t, chunks);
    case PreTokenizerKind::kLlama3: return split_llama3(t, chunks, 3);
    case PreTokenizerKind::kQwen2: return split_llama3(t, chunks, 1);
    case PreTokenizerKind::kFalcon:
      chunks = split_matches(t, chunks, match_falcon_punct);
      chunks = split_gpt2(t, chunks);
      return split_matches(t, chunks, match_digit_triple);
    case PreTokenizerKind::kStarcoder: return split_gpt2(t, split_matches(t, chunks, match_number));
    case PreTokenizerKind::kDeepseekLlm: return split_deepseek_llm(t, std::move(chunks));
    case PreTokenizerKind::kDeepseekCoder: return split_deepseek_coder(t, std::move(chunks));
    case PreTokenizerKind::kDeepseekV3: return split_deepseek_v3(t, std::move(chunks));
  }
  return chunks;
}

}  // namespace

Result<PreTokenizerInfo> pre_tokenizer_from_name(std::string_view name) {
  if (name.empty()) return PreTokenizerInfo{};
  for (const NamedPre& p : kNamedPres) {
    if (p.name == name) return p.info;
  }
  return unsupported("unknown pre-tokenizer '" + std::string(name) + "' (tokenizer.ggml.pre)");
}

std::vector<std::string> pre_tokenize(PreTokenizerKind kind, std::string_view text) {
  const Text t = analyze(text);
  Chunks chunks;
  if (!t.cps.empty()) chunks.push_back(t.cps.size());
  chunks = split(kind, t, std::move(chunks));
  std::vector<std::string> words;
  words.reserve(chunks.size());
  size_t start = 0;
  for (size_t len : chunks) {
    std::string w;
    for (size_t i = start; i < start + len; ++i) unicode::append_utf8(w, t.cps[i]);
    words.push_back(std::move(w));
    start += len;
  }
  return words;
}

}  // namespace rs::engine
