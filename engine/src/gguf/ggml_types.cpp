// Traits of ggml tensor types: names, block sizes. Types we cannot compute with are still
// described when their layout is known, so that `info` can list any GGUF.
#include <array>
#include <cstdint>
#include <string_view>

#include "rs/engine/gguf.h"

namespace rs::engine {
namespace {

struct TypeTraits {
  uint32_t id;
  std::string_view name;
  int64_t block_elems;
  int64_t block_bytes;
  bool supported;
};

constexpr std::array<TypeTraits, 22> kTypes{{
    {0, "f32", 1, 4, true},       {1, "f16", 1, 2, true},       {2, "q4_0", 32, 18, true},
    {3, "q4_1", 32, 20, true},   {6, "q5_0", 32, 22, true},   {7, "q5_1", 32, 24, true},
    {8, "q8_0", 32, 34, true},    {9, "q8_1", 32, 36, false},   {10, "q2_k", 256, 84, true},
    {11, "q3_k", 256, 110, true}, {12, "q4_k", 256, 144, true}, {13, "q5_k", 256, 176, true},
    {14, "q6_k", 256, 210, true}, {15, "q8_k", 256, 292, false}, {24, "i8", 1, 1, false},
    {25, "i16", 1, 2, false},     {26, "i32", 1, 4, false},     {27, "i64", 1, 8, false},
    {28, "f64", 1, 8, false},     {30, "bf16", 1, 2, true},     {29, "iq1_m", 256, 56, false},
    {20, "iq4_nl", 32, 18, true},
}};

const TypeTraits* traits(GgmlType type) {
  for (const auto& t : kTypes) {
    if (t.id == static_cast<uint32_t>(type)) return &t;
  }
  return nullptr;
}

}  // namespace

std::string_view ggml_type_name(GgmlType type) {
  const TypeTraits* t = traits(type);
  return t != nullptr ? t->name : std::string_view("unknown");
}

bool ggml_type_supported(GgmlType type) {
  const TypeTraits* t = traits(type);
  return t != nullptr && t->supported;
}

bool ggml_type_known(GgmlType type) { return traits(type) != nullptr; }

int64_t ggml_block_elems(GgmlType type) {
  const TypeTraits* t = traits(type);
  return t != nullptr ? t->block_elems : 0;
}

int64_t ggml_block_bytes(GgmlType type) {
  const TypeTraits* t = traits(type);
  return t != nullptr ? t->block_bytes : 0;
}

int64_t ggml_row_bytes(GgmlType type, int64_t n) {
  const TypeTraits* t = traits(type);
  if (t == nullptr) return 0;
  return n / t->block_elems * t->block_bytes;
}

}  // namespace rs::engine
