// Test helpers: tokenizer GGUFs built in memory (GgufWriter -> GgufFile::from_buffer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rs/engine/gguf.h"
#include "rs/engine/tokenizer.h"

namespace rs::engine::test {

// The byte-level vocabulary written the way `ringserve-model synth` writes it.
inline GgufWriter byte_level_writer(const ByteLevelVocab& v, const std::string& pre = "gpt-2") {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("tokenizer.ggml.model", "gpt2");
  if (!pre.empty()) w.add_string("tokenizer.ggml.pre", pre);
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  w.add_i32_array("tokenizer.ggml.token_type", v.token_types);
  w.add_string_array("tokenizer.ggml.merges", v.merges);
  w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  w.add_bool("tokenizer.ggml.add_bos_token", false);
  return w;
}

// A tiny SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then `pieces`
// (normal tokens, scores = their position: later pieces merge first).
inline GgufWriter spm_writer(const std::vector<std::string>& pieces) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  std::vector<float> scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    tokens.emplace_back(buf);
    types.push_back(6);
    scores.push_back(0);
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    tokens.push_back(pieces[i]);
    types.push_back(1);
    scores.push_back(static_cast<float>(i));
  }
  GgufWriter w;
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_i32_array("tokenizer.ggml.token_type", types);
  w.add_f32_array("tokenizer.ggml.scores", scores);
  w.add_u32("tokenizer.ggml.bos_token_id", 1);
  w.add_u32("tokenizer.ggml.eos_token_id", 2);
  w.add_u32("tokenizer.ggml.unknown_token_id", 0);
  return w;
}

// Serializes `w` into `storage` (which must outlive nothing: the tokenizer copies what it
// needs) and loads the tokenizer from it.
inline Result<std::unique_ptr<Tokenizer>> load_tokenizer(const GgufWriter& w) {
  const std::vector<uint8_t> storage = w.serialize();
  RS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::from_buffer(storage));
  return Tokenizer::from_gguf(*file);
}

// The synth vocabulary's tokenizer, built once per test binary (training takes a while
// under sanitizers).
inline const Tokenizer& byte_level_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    auto r = load_tokenizer(byte_level_writer(make_byte_level_vocab()));
    return r.ok() ? std::move(*r) : nullptr;
  }();
  return *tok;
}

}  // namespace rs::engine::test
