// libFuzzer target: the GGUF reader on any bytes (GgufFile::from_buffer over a 64-byte
// aligned copy, as a mapping gives), then what a worker reads from a file that opens: every
// metadata getter, the tensor table, and the tokenizer built from its tokenizer.ggml.* keys
// (a few words encoded and decoded). Inputs are capped at 1 MiB.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "rs/engine/gguf.h"
#include "rs/engine/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rs::engine;
  if (size > (1u << 20)) return 0;
  struct Free { void operator()(uint8_t* p) const { std::free(p); } };
  std::unique_ptr<uint8_t, Free> copy(static_cast<uint8_t*>(std::aligned_alloc(64, (size + 64) / 64 * 64)));
  if (size > 0) std::memcpy(copy.get(), data, size);
  auto file = GgufFile::from_buffer(std::span<const uint8_t>(copy.get(), size));
  if (!file.ok()) return 0;
  const GgufFile& f = **file;
  for (const auto& [key, value] : f.metadata()) {
    (void)f.get_string(key);
    (void)f.get_int(key);
    (void)f.get_float(key);
    (void)f.get_bool(key);
    (void)f.get_string_array(key);
    (void)f.get_float_array(key);
    (void)f.get_int_array(key);
  }
  uint8_t sink = 0;
  for (const auto& t : f.tensors()) {
    (void)f.find_tensor(t.name);
    (void)t.n_elements();
    (void)t.n_rows();
    // The reader vouches for [data, data + n_bytes): ASan checks both ends.
    if (t.n_bytes > 0) sink ^= t.data[0] ^ t.data[t.n_bytes - 1];
  }
  volatile uint8_t keep = sink;
  (void)keep;
  auto tok = Tokenizer::from_gguf(f);
  if (!tok.ok()) return 0;
  const std::vector<int32_t> ids = (*tok)->encode("Hello world, <s> once upon a time", true, true);
  for (int32_t id : ids) {
    if (id < 0 || id >= (*tok)->n_vocab()) std::abort();
  }
  (void)(*tok)->decode(ids);
  return 0;
}
