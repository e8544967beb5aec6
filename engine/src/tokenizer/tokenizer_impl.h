// Internal: the tokenizer families behind rs::engine::Tokenizer (SentencePiece, byte-level
// BPE, WordPiece) and the metadata from_gguf gathers for them. Immutable after construction: any thread may encode.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "flat_index.h"
#include "pre_tokenizer.h"
#include "rs/engine/tokenizer.h"

namespace rs::engine {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using OwnedTextMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Everything read from tokenizer.ggml.*, validated (ids in range, lengths consistent).
struct VocabData {
  std::vector<std::string> tokens;
  std::vector<TokenType> types;
  std::vector<float> scores;        // empty: all 0
  std::vector<std::string_view> merges;  // gpt2 only; views into the GgufFile being read
  std::string pre_name;             // gpt2 only ("default" when the key is missing)
  PreTokenizerInfo pre;
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, sep = -1;
  bool add_bos = false, add_eos = false, add_sep = false, add_space_prefix = true;
  bool lowercase = true, strip_accents = true;  // bert: tokenizer.ggml.normalizer.*
};

// Shared by both families: token lookup, user-defined token partition, EOG set, pieces.
class VocabTokenizer : public Tokenizer {
 public:
  VocabTokenizer() = default;
  VocabTokenizer(const VocabTokenizer&) = delete;  // token_index_ points into tokens_
  VocabTokenizer& operator=(const VocabTokenizer&) = delete;
  std::string piece(int32_t id) const override;

 protected:
  // A piece of the input: raw text, or a user-defined token found in it (token >= 0).
  struct Fragment {
    std::string_view text;
    int32_t token = -1;
  };

  // Takes tokens/types/special ids from v and builds the lookup tables.
  void init_vocab(VocabData& v);
  int32_t find_token(std::string_view text) const;
  // Splits out user-defined tokens, and with parse_special control and unknown ones too
  // (else they are text), longest text first, as llama.cpp's tokenizer_st_partition.
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const;

  TokenIndex token_index_;  // over tokens_
  std::vector<std::string> pieces_;     // piece(id), filled by the family
  std::vector<int32_t> user_defined_;   // longest text first
  std::vector<int32_t> specials_;       // user-defined, control and unknown: longest first
  int32_t unk_ = -1;
  bool add_eos_ = false;
};

class SpmTokenizer final : public VocabTokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> create(VocabData v);
  std::vector<int32_t> encode_impl(std::string_view text, bool add_special, bool parse_special) const override;
  std::string_view model_name() const override { return "llama"; }
  std::string_view pre_name() const override { return ""; }

 private:
  void encode_text(const std::string& text, std::vector<int32_t>& out) const;
  void emit_symbol(std::string_view text, std::vector<int32_t>& out) const;

  std::vector<float> scores_;
  int32_t byte_tokens_[256] = {};  // <0xXX> (or the 1-byte token), -1 when absent
  bool add_space_prefix_ = true;
};

class BpeTokenizer final : public VocabTokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> create(VocabData v);
  std::vector<int32_t> encode_impl(std::string_view text, bool add_special, bool parse_special) const override;
  std::string_view model_name() const override { return "gpt2"; }
  std::string_view pre_name() const override { return pre_name_; }

 private:
  struct Symbol {
    int32_t prev, next;
    uint32_t start, n;
    int32_t id;
  };
  Status load_merges(const std::vector<std::string_view>& merges);
  void encode_word(const std::string& word, std::vector<Symbol>& syms, std::vector<int32_t>& out) const;
  void emit_symbols(const std::string& word, const std::vector<Symbol>& syms, std::vector<int32_t>& out) const;
  int32_t rank(const std::string& word, const Symbol& a, const Symbol& b) const;

  std::string pre_name_;
  PreTokenizerInfo pre_;
  PairRankIndex id_pair_rank_;  // (left id, right id) -> rank
  OwnedTextMap text_pair_rank_;  // "left right" -> rank, for merges whose parts are not tokens
};

// WordPiece ("bert"), as llama.cpp's llm_tokenizer_wpm: the text is lowercased with accents
// stripped (unless tokenizer.ggml.normalizer.* say otherwise), split on whitespace, punctuation and CJK ideographs, and each word is covered
// greedily by the longest vocabulary tokens, the first one with the U+2581 word prefix
// (llama.cpp's spelling of WordPiece's unprefixed tokens; its "##" tokens lose the "##").
// A word that cannot be covered becomes the unknown token.
class WpmTokenizer final : public VocabTokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> create(VocabData v);
  std::vector<int32_t> encode_impl(std::string_view text, bool add_special, bool parse_special) const override;
  std::string_view model_name() const override { return "bert"; }
  std::string_view pre_name() const override { return ""; }

 private:
  void encode_word(const std::string& word, std::vector<int32_t>& out) const;

  size_t max_token_len_ = 0;
  int32_t sep_ = -1;
  bool add_sep_ = false;
  bool lowercase_ = true;
  bool strip_accents_ = true;
};

}  // namespace rs::engine
