// Tokenizer: text <-> token ids from a GGUF's tokenizer metadata. Three families:
// SentencePiece-style ("llama": score-driven merges, byte fallback), byte-level BPE
// ("gpt2": ranked merges after a regex pre-tokenizer named by tokenizer.ggml.pre) and
// WordPiece ("bert": uncased, greedy longest match).
// Immutable after load: any thread may encode/decode concurrently. A StreamDecoder
// belongs to one sequence (one thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rs/core/result.h"

namespace rs::engine {

class GgufFile;

enum class TokenType : int32_t {  // tokenizer.ggml.token_type, as in llama.cpp
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Reads tokenizer.ggml.* metadata. An unknown tokenizer model or pre-tokenizer is a
  // clear error (unsupported), never a silent fallback.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const GgufFile& file);

  // add_special: prepend BOS when the model adds one (tokenizer.ggml.add_bos_token,
  // default true for "llama", false for "gpt2"; append EOS when add_eos_token), as
  // llama_tokenize(add_special, parse_special) does. parse_special false: control tokens
  // written in the text are plain text, user-defined ones are matched; true (a rendered chat
  // template): control and unknown tokens written in the text become their ids too. Invalid
  // UTF-8 never fails (the byte-level pre-tokenizers read a bad byte as U+FFFD, as llama.cpp).
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special = false) const {
    return encode_impl(text, add_special, parse_special);
  }
  // The bytes a token stands for, as llama_token_to_piece(special=false): control and
  // unknown tokens -> "", as is an id outside the vocabulary.
  virtual std::string piece(int32_t id) const = 0;

  virtual std::string_view model_name() const = 0;  // "llama", "gpt2" or "bert"
  virtual std::string_view pre_name() const = 0;    // pre-tokenizer ("" for llama)
  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  bool adds_bos() const { return add_bos_; }
  // End of generation: eos, eot or any control token the vocabulary marks as such.
  bool is_eog(int32_t id) const;
  const std::string& token_text(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  TokenType token_type(int32_t id) const { return types_[static_cast<size_t>(id)]; }

  std::string decode(const std::vector<int32_t>& ids) const;

 protected:
  virtual std::vector<int32_t> encode_impl(std::string_view text, bool add_special, bool parse_special) const = 0;

  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  int32_t bos_ = -1;
  int32_t eos_ = -1;
  int32_t eot_ = -1;
  bool add_bos_ = false;
  std::vector<int32_t> eog_ids_;  // sorted: eos, eot, eom and end-of-turn tokens found by text
};

// Turns a stream of token ids into valid UTF-8 text chunks: bytes of an incomplete
// multi-byte sequence are held back until completed (or flushed at the end).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  // The complete UTF-8 text that token id finishes (may be empty).
  std::string push(int32_t id);
  // Whatever is held back (invalid sequences are replaced by U+FFFD).
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

// The vocabulary `ringserve-model synth` writes when no --vocab-from file is given:
// a gpt2-style byte-level BPE with the 256 byte tokens, a small set of merges and an
// end-of-text token. Written as tokenizer.ggml.* keys so the GGUF loads like any other.
// Layout: ids 0..255 are the bytes 0..255 (in GPT-2's bytes-to-unicode form), then one
// token per merge (merges learnt deterministically from a built-in English sample, a few
// hundred), then "<|endoftext|>" (control) as both eos_id and bos_id, then ChatML's
// "<|im_start|>" and "<|im_end|>" (control; <|im_end|> ends generation). Write it with
// tokenizer.ggml.model "gpt2", tokenizer.ggml.pre "gpt-2" and add_bos_token false: like
// GPT-2, no BOS is prepended. decode(encode(text)) == text for any valid UTF-8 text.
struct ByteLevelVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;
  std::vector<std::string> merges;
  int32_t eos_id = 0;
  int32_t bos_id = 0;
};
ByteLevelVocab make_byte_level_vocab();

}  // namespace rs::engine
