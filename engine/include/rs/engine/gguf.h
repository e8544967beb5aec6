// GgufFile: a read-only, memory-mapped GGUF (v2/v3) file with validated metadata and
// tensor table; GgufWriter: builds a GGUF file (used by `ringserve-model synth` and tests).
// Immutable after open(): any thread may read a GgufFile concurrently. A GgufWriter
// belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rs/core/result.h"

namespace rs::engine {

class ByteReader;

// ggml tensor types (numbering as in ggml.h). Only the ones we handle are named.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kIQ4_NL = 20,
  kBF16 = 30,
};

std::string_view ggml_type_name(GgmlType type);
bool ggml_type_supported(GgmlType type);  // the engine computes with it
bool ggml_type_known(GgmlType type);      // its layout is known (listed by `info`)
// Elements per block (1 for float types, 32 for Q8_0/Q4_0) and bytes per block.
int64_t ggml_block_elems(GgmlType type);
int64_t ggml_block_bytes(GgmlType type);
// Bytes of one row of n elements (n must be a multiple of the block size).
int64_t ggml_row_bytes(GgmlType type, int64_t n);

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// One metadata value. Scalars are widened; strings view into the mapped file.
struct GgufValue {
  GgufType type = GgufType::kU8;
  GgufType array_type = GgufType::kU8;  // when type == kArray
  // kU*/kI*/kBool -> int64 (u64 stored as int64 bit pattern), kF32/kF64 -> double,
  // kString -> string_view; arrays: element count + pointer to the first raw element.
  std::variant<int64_t, double, std::string_view> scalar;
  uint64_t array_len = 0;
  const uint8_t* array_data = nullptr;           // numeric arrays: raw little-endian elements
  std::vector<std::string_view> array_strings;   // string arrays
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // ggml order: dims[0] is the contiguous (row) dimension
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;        // relative to the data section
  const uint8_t* data = nullptr;
  uint64_t n_bytes = 0;

  int64_t n_elements() const;
  int64_t n_rows() const;     // product of dims[1..]
  int64_t row_len() const { return dims.empty() ? 0 : dims[0]; }
};

class GgufFile {
 public:
  // Maps and validates the file: magic, version 2 or 3, every count, string length,
  // array length, tensor dim/type/offset and size against the file length.
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  // Same validation over a caller-owned buffer that must outlive the GgufFile (fuzz tests).
  static Result<std::unique_ptr<GgufFile>> from_buffer(std::span<const uint8_t> bytes);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t file_size() const { return size_; }
  const std::string& path() const { return path_; }

  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Typed getters: a clear error when absent or of the wrong type. get_int accepts every
  // integer type and bool; get_float accepts f32/f64 and integers.
  Result<std::string_view> get_string(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_float(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  int64_t get_int_or(std::string_view key, int64_t fallback) const;
  double get_float_or(std::string_view key, double fallback) const;
  Result<std::vector<std::string_view>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_float_array(std::string_view key) const;
  Result<std::vector<int64_t>> get_int_array(std::string_view key) const;
  // Every key in file order (for `ringserve-model info`).
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // Advice: the whole pages inside [p, p + n) of a mapped file will not be read soon (a
  // matrix the model keeps a packed copy of); they are dropped from this process and read
  // again from the file if touched. Nothing for a file read from a buffer.
  void release_pages(const void* p, uint64_t n) const;

 private:
  GgufFile() = default;
  Status parse();
  Status parse_tensors(ByteReader& reader, uint64_t n_tensors);

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<TensorInfo> tensors_;
};

// Builds a GGUF v3 file in memory and writes it out. Tensors are written in the order added,
// each aligned to 32 bytes.
class GgufWriter {
 public:
  void add_string(std::string key, std::string value);
  void add_u32(std::string key, uint32_t value);
  void add_i32(std::string key, int32_t value);
  void add_f32(std::string key, float value);
  void add_bool(std::string key, bool value);
  void add_string_array(std::string key, std::vector<std::string> values);
  void add_f32_array(std::string key, std::vector<float> values);
  void add_i32_array(std::string key, std::vector<int32_t> values);
  // bytes must be ggml_row_bytes(type, dims[0]) * product(dims[1..]) long.
  void add_tensor(std::string name, std::vector<int64_t> dims, GgmlType type, std::vector<uint8_t> bytes);
  // A tensor whose bytes are produced only while writing: fill(dst) must write exactly
  // the tensor's byte size to dst. Keeps huge synthetic models out of memory.
  using FillFn = std::function<void(uint8_t* dst)>;
  void add_tensor_lazy(std::string name, std::vector<int64_t> dims, GgmlType type, FillFn fill);

  std::vector<uint8_t> serialize() const;
  Status write(const std::string& path) const;

 private:
  struct Kv { std::string key; GgufType type; GgufType array_type; std::vector<uint8_t> payload; };
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    GgmlType type;
    std::vector<uint8_t> bytes;
    FillFn fill;
    uint64_t n_bytes;
  };
  std::vector<uint8_t> header_bytes() const;  // everything before the data section
  std::vector<Kv> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace rs::engine
