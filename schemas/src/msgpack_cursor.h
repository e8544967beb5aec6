// MsgpackCursor: reads msgpack values in place, one header at a time, with no allocation
// (the decoder fills the message structs straight from the bytes). check_body() first
// checks a whole body's structure against the Limits (truncation, invalid bytes, trailing
// bytes, container sizes, nesting depth, ext types), so the decoder that follows can rely
// on well-formed input. Plain value; any thread, one at a time.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "rs/core/status.h"
#include "rs/schemas/protocol.h"

namespace rs::schemas::detail {

enum class MsgKind : uint8_t { kNil, kBool, kUint, kInt, kFloat, kStr, kBin, kArray, kMap, kExt };

// One value's header: a scalar or string whole; a container's element count only.
struct MsgValue {
  MsgKind kind = MsgKind::kNil;
  bool b = false;
  uint64_t u = 0;      // kUint
  int64_t i = 0;       // kInt (negative)
  double f = 0;        // kFloat
  std::string_view s;  // kStr, kBin (and kExt's payload)
  uint32_t n = 0;      // kArray elements, kMap pairs
};

class MsgpackCursor {
 public:
  explicit MsgpackCursor(std::string_view data) : p_(data.data()), end_(p_ + data.size()) {}

  // The next value's header; false when the bytes end inside it or start with 0xc1.
  __attribute__((always_inline)) bool next(MsgValue& v);
  // Skips the contents of a container whose header next() returned (recursively).
  bool skip_contents(const MsgValue& v);
  // Skips one whole value.
  bool skip();
  bool at_end() const { return p_ == end_; }

 private:
  bool take(size_t n, const char*& out) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    out = p_;
    p_ += n;
    return true;
  }
  template <class T>
  bool big_endian(T& out);
  bool sized(MsgKind kind, uint32_t n, MsgValue& v);

  const char* p_;
  const char* end_;
};

// The structure of a whole body against the limits: kBadMsgpack (truncated, invalid byte,
// trailing bytes), kTooLarge (a container over its limit, nesting deeper than max_depth,
// an ext value). Ok says the body is one well-formed value.
Status check_body(std::string_view body, const Limits& limits);

template <class T>
inline bool MsgpackCursor::big_endian(T& out) {
  const char* p = nullptr;
  if (!take(sizeof(T), p)) return false;
  T x = 0;
  for (size_t i = 0; i < sizeof(T); ++i) x = static_cast<T>((x << 8) | static_cast<uint8_t>(p[i]));
  out = x;
  return true;
}

inline bool MsgpackCursor::sized(MsgKind kind, uint32_t n, MsgValue& v) {
  v.kind = kind;
  v.n = n;
  if (kind == MsgKind::kArray || kind == MsgKind::kMap) return true;
  const char* p = nullptr;
  if (!take(n, p)) return false;
  v.s = std::string_view(p, n);
  return true;
}

inline __attribute__((always_inline)) bool MsgpackCursor::next(MsgValue& v) {
  if (p_ == end_) return false;
  const auto b = static_cast<uint8_t>(*p_++);
  if (b <= 0x7f) {
    v.kind = MsgKind::kUint;
    v.u = b;
    return true;
  }
  if (b >= 0xe0) {
    v.kind = MsgKind::kInt;
    v.i = static_cast<int8_t>(b);
    return true;
  }
  if (b <= 0x8f) return sized(MsgKind::kMap, b & 0x0fu, v);
  if (b <= 0x9f) return sized(MsgKind::kArray, b & 0x0fu, v);
  if (b <= 0xbf) return sized(MsgKind::kStr, b & 0x1fu, v);
  uint8_t u8 = 0;
  uint16_t u16 = 0;
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  auto uint_value = [&](uint64_t x) {
    v.kind = MsgKind::kUint;
    v.u = x;
    return true;
  };
  auto int_value = [&](int64_t x) {
    if (x >= 0) return uint_value(static_cast<uint64_t>(x));
    v.kind = MsgKind::kInt;
    v.i = x;
    return true;
  };
  auto ext = [&](uint32_t n) {
    const char* p = nullptr;
    v.kind = MsgKind::kExt;
    return take(1, p) && take(n, p);
  };
  switch (b) {
    case 0xc0:
      v.kind = MsgKind::kNil;
      return true;
    case 0xc2:
    case 0xc3:
      v.kind = MsgKind::kBool;
      v.b = b == 0xc3;
      return true;
    case 0xc4:
      return big_endian(u8) && sized(MsgKind::kBin, u8, v);
    case 0xc5:
      return big_endian(u16) && sized(MsgKind::kBin, u16, v);
    case 0xc6:
      return big_endian(u32) && sized(MsgKind::kBin, u32, v);
    case 0xc7:
      return big_endian(u8) && ext(u8);
    case 0xc8:
      return big_endian(u16) && ext(u16);
    case 0xc9:
      return big_endian(u32) && ext(u32);
    case 0xca: {
      if (!big_endian(u32)) return false;
      float f = 0;
      std::memcpy(&f, &u32, sizeof f);
      v.kind = MsgKind::kFloat;
      v.f = f;
      return true;
    }
    case 0xcb: {
      if (!big_endian(u64)) return false;
      double d = 0;
      std::memcpy(&d, &u64, sizeof d);
      v.kind = MsgKind::kFloat;
      v.f = d;
      return true;
    }
    case 0xcc:
      return big_endian(u8) && uint_value(u8);
    case 0xcd:
      return big_endian(u16) && uint_value(u16);
    case 0xce:
      return big_endian(u32) && uint_value(u32);
    case 0xcf:
      return big_endian(u64) && uint_value(u64);
    case 0xd0:
      return big_endian(u8) && int_value(static_cast<int8_t>(u8));
    case 0xd1:
      return big_endian(u16) && int_value(static_cast<int16_t>(u16));
    case 0xd2:
      return big_endian(u32) && int_value(static_cast<int32_t>(u32));
    case 0xd3:
      return big_endian(u64) && int_value(static_cast<int64_t>(u64));
    case 0xd4:
      return ext(1);
    case 0xd5:
      return ext(2);
    case 0xd6:
      return ext(4);
    case 0xd7:
      return ext(8);
    case 0xd8:
      return ext(16);
    case 0xd9:
      return big_endian(u8) && sized(MsgKind::kStr, u8, v);
    case 0xda:
      return big_endian(u16) && sized(MsgKind::kStr, u16, v);
    case 0xdb:
      return big_endian(u32) && sized(MsgKind::kStr, u32, v);
    case 0xdc:
      return big_endian(u16) && sized(MsgKind::kArray, u16, v);
    case 0xdd:
      return big_endian(u32) && sized(MsgKind::kArray, u32, v);
    case 0xde:
      return big_endian(u16) && sized(MsgKind::kMap, u16, v);
    case 0xdf:
      return big_endian(u32) && sized(MsgKind::kMap, u32, v);
    default:
      return false;  // 0xc1: never used
  }
}

}  // namespace rs::schemas::detail
