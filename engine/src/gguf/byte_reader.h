// ByteReader: bounds-checked little-endian reads over an untrusted byte range.
// Every read fails (returns false) instead of passing the end. Single-threaded value.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace rs::engine {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  bool read(T* out) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  // A GGUF string: u64 length then bytes (not NUL-terminated).
  bool read_string(std::string_view* out) {
    uint64_t len = 0;
    if (!read(&len) || len > remaining()) return false;
    *out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return true;
  }

  bool skip(uint64_t n) {
    if (n > remaining()) return false;
    pos_ += n;
    return true;
  }

  const uint8_t* here() const { return data_ + pos_; }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

}  // namespace rs::engine
