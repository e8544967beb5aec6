// GgufFile: typed metadata getters.
#include <cstring>
#include <string>

#include "rs/engine/gguf.h"

namespace rs::engine {
namespace {

bool is_int_type(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kU16: case GgufType::kI16:
    case GgufType::kU32: case GgufType::kI32: case GgufType::kU64: case GgufType::kI64:
    case GgufType::kBool:
      return true;
    default:
      return false;
  }
}

Status missing(std::string_view key) { return not_found("metadata key '" + std::string(key) + "' is missing"); }
Status wrong_type(std::string_view key, const char* want) {
  return corrupt("metadata key '" + std::string(key) + "' is not " + want);
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

int64_t int_element(GgufType t, const uint8_t* base, uint64_t i) {
  switch (t) {
    case GgufType::kU8: return load<uint8_t>(base + i);
    case GgufType::kI8: return load<int8_t>(base + i);
    case GgufType::kBool: return load<uint8_t>(base + i) != 0;
    case GgufType::kU16: return load<uint16_t>(base + 2 * i);
    case GgufType::kI16: return load<int16_t>(base + 2 * i);
    case GgufType::kU32: return load<uint32_t>(base + 4 * i);
    case GgufType::kI32: return load<int32_t>(base + 4 * i);
    case GgufType::kU64: return static_cast<int64_t>(load<uint64_t>(base + 8 * i));
    case GgufType::kI64: return load<int64_t>(base + 8 * i);
    default: return 0;
  }
}

}  // namespace

Result<std::string_view> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(key);
  if (v->type != GgufType::kString) return wrong_type(key, "a string");
  return std::get<std::string_view>(v->scalar);
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(key);
  if (!is_int_type(v->type)) return wrong_type(key, "an integer");
  return std::get<int64_t>(v->scalar);
}

Result<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(key);
  if (v->type == GgufType::kF32 || v->type == GgufType::kF64) return std::get<double>(v->scalar);
  if (is_int_type(v->type)) return static_cast<double>(std::get<int64_t>(v->scalar));
  return wrong_type(key, "a number");
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
  RS_ASSIGN_OR_RETURN(int64_t v, get_int(key));
  return v != 0;
}

int64_t GgufFile::get_int_or(std::string_view key, int64_t fallback) const {
  auto r = get_int(key);
  return r.ok() ? *r : fallback;
}

double GgufFile::get_float_or(std::string_view key, double fallback) const {
  auto r = get_float(key);
  return r.ok() ? *r : fallback;
}

Result<std::vector<std::string_view>> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(key);
  if (v->type != GgufType::kArray || v->array_type != GgufType::kString) return wrong_type(key, "an array of strings");
  return v->array_strings;
}

Result<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(key);
  if (v->type != GgufType::kArray) return wrong_type(key, "an array");
  std::vector<float> out(static_cast<size_t>(v->array_len));
  if (v->array_type == GgufType::kF32) {
    if (!out.empty()) std::memcpy(out.data(), v->array_data, out.size() * sizeof(float));
  } else if (v->array_type == GgufType::kF64) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(load<double>(v->array_data + 8 * i));
  } else if (is_int_type(v->array_type)) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(int_element(v->array_type, v->array_data, i));
  } else {
    return wrong_type(key, "an array of numbers");
  }
  return out;
}

Result<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(key);
  if (v->type != GgufType::kArray || !is_int_type(v->array_type)) return wrong_type(key, "an array of integers");
  std::vector<int64_t> out(static_cast<size_t>(v->array_len));
  for (size_t i = 0; i < out.size(); ++i) out[i] = int_element(v->array_type, v->array_data, i);
  return out;
}

}  // namespace rs::engine
