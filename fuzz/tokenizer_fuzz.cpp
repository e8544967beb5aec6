// libFuzzer target: the tokenizers on any text. Real vocabularies are loaded once (SPM:
// stories260K and Llama 2's 32000 tokens; byte-level BPE: GPT-2's 50257 from the qwen2
// test model) plus the synthetic byte-level vocabulary under several pre-tokenizers.
// Input: [selector, text...]; every id must be in range, and decode / StreamDecoder must
// take the ids back (and ids made of the input bytes).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_paths.h"
#include "rs/engine/gguf.h"
#include "rs/engine/tokenizer.h"

namespace {

using rs::engine::GgufFile;
using rs::engine::Tokenizer;

std::vector<std::unique_ptr<Tokenizer>>& tokenizers() {
  static std::vector<std::unique_ptr<Tokenizer>> all;
  return all;
}

void add_from_file(const std::string& path) {
  if (!rs::fuzz::require_file(path)) return;
  auto file = GgufFile::open(path);
  if (!file.ok()) std::abort();
  auto tok = Tokenizer::from_gguf(**file);
  if (!tok.ok()) std::abort();
  tokenizers().push_back(std::move(*tok));
}

void add_byte_level(const std::string& pre) {
  const rs::engine::ByteLevelVocab v = rs::engine::make_byte_level_vocab();
  rs::engine::GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", pre);
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  w.add_i32_array("tokenizer.ggml.token_type", v.token_types);
  w.add_string_array("tokenizer.ggml.merges", v.merges);
  w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  w.add_bool("tokenizer.ggml.add_bos_token", false);
  static std::vector<std::vector<uint8_t>> storage;  // from_buffer needs it alive
  storage.push_back(w.serialize());
  auto file = GgufFile::from_buffer(storage.back());
  if (!file.ok()) std::abort();
  auto tok = Tokenizer::from_gguf(**file);
  if (!tok.ok()) std::abort();
  tokenizers().push_back(std::move(*tok));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string dir = rs::fuzz::models_dir();
  add_from_file(dir + "/stories260K.gguf");
  add_from_file(dir + "/llama-2-tiny-random.gguf");
  add_from_file(dir + "/qwen2-gpt2vocab-q8_0.gguf");
  for (const char* pre : {"gpt-2", "qwen2", "llama-bpe", "deepseek-v3"}) add_byte_level(pre);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (16u << 10)) return 0;
  const auto& all = tokenizers();
  const uint8_t selector = data[0];
  const Tokenizer& tok = *all[(selector & 0x0F) % all.size()];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool add_special = (selector & 0x10) != 0;
  const bool parse_special = (selector & 0x20) != 0;
  const std::vector<int32_t> ids = tok.encode(text, add_special, parse_special);
  for (int32_t id : ids) {
    if (id < 0 || id >= tok.n_vocab()) std::abort();
  }
  (void)tok.decode(ids);
  rs::engine::StreamDecoder stream(tok);
  for (int32_t id : ids) (void)stream.push(id);
  (void)stream.flush();
  if ((selector & 0x40) != 0) {  // the input bytes as ids (pairs, mod the vocabulary)
    std::vector<int32_t> raw;
    for (size_t i = 0; i + 1 < text.size(); i += 2) {
      const uint32_t v = static_cast<uint8_t>(text[i]) | (static_cast<uint32_t>(static_cast<uint8_t>(text[i + 1])) << 8);
      raw.push_back(static_cast<int32_t>(v % static_cast<uint32_t>(tok.n_vocab())));
    }
    (void)tok.decode(raw);
    rs::engine::StreamDecoder d(tok);
    for (int32_t id : raw) (void)d.push(id);
    (void)d.flush();
  }
  return 0;
}
