#include "msgpack_cursor.h"

#include <algorithm>
#include <vector>

#include "rs/schemas/errors.h"

namespace rs::schemas::detail {

template <class T>
bool MsgpackCursor::big_endian(T& out) {
  const char* p = nullptr;
  if (!take(sizeof(T), p)) return false;
  T x = 0;
  for (size_t i = 0; i < sizeof(T); ++i) x = static_cast<T>((x << 8) | static_cast<uint8_t>(p[i]));
  out = x;
  return true;
}

bool MsgpackCursor::sized(MsgKind kind, uint32_t n, MsgValue& v) {
  v.kind = kind;
  v.n = n;
  if (kind == MsgKind::kArray || kind == MsgKind::kMap) return true;
  const char* p = nullptr;
  if (!take(n, p)) return false;
  v.s = std::string_view(p, n);
  return true;
}

bool MsgpackCursor::next(MsgValue& v) {
  v = MsgValue{};
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
    case 0xc0: v.kind = MsgKind::kNil; return true;
    case 0xc2:
    case 0xc3: v.kind = MsgKind::kBool; v.b = b == 0xc3; return true;
    case 0xc4: return big_endian(u8) && sized(MsgKind::kBin, u8, v);
    case 0xc5: return big_endian(u16) && sized(MsgKind::kBin, u16, v);
    case 0xc6: return big_endian(u32) && sized(MsgKind::kBin, u32, v);
    case 0xc7: return big_endian(u8) && ext(u8);
    case 0xc8: return big_endian(u16) && ext(u16);
    case 0xc9: return big_endian(u32) && ext(u32);
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
    case 0xcc: return big_endian(u8) && uint_value(u8);
    case 0xcd: return big_endian(u16) && uint_value(u16);
    case 0xce: return big_endian(u32) && uint_value(u32);
    case 0xcf: return big_endian(u64) && uint_value(u64);
    case 0xd0: return big_endian(u8) && int_value(static_cast<int8_t>(u8));
    case 0xd1: return big_endian(u16) && int_value(static_cast<int16_t>(u16));
    case 0xd2: return big_endian(u32) && int_value(static_cast<int32_t>(u32));
    case 0xd3: return big_endian(u64) && int_value(static_cast<int64_t>(u64));
    case 0xd4: return ext(1);
    case 0xd5: return ext(2);
    case 0xd6: return ext(4);
    case 0xd7: return ext(8);
    case 0xd8: return ext(16);
    case 0xd9: return big_endian(u8) && sized(MsgKind::kStr, u8, v);
    case 0xda: return big_endian(u16) && sized(MsgKind::kStr, u16, v);
    case 0xdb: return big_endian(u32) && sized(MsgKind::kStr, u32, v);
    case 0xdc: return big_endian(u16) && sized(MsgKind::kArray, u16, v);
    case 0xdd: return big_endian(u32) && sized(MsgKind::kArray, u32, v);
    case 0xde: return big_endian(u16) && sized(MsgKind::kMap, u16, v);
    case 0xdf: return big_endian(u32) && sized(MsgKind::kMap, u32, v);
    default: return false;  // 0xc1: never used
  }
}

bool MsgpackCursor::skip_contents(const MsgValue& v) {
  uint64_t n = v.kind == MsgKind::kArray ? v.n : v.kind == MsgKind::kMap ? 2ull * v.n : 0;
  for (uint64_t i = 0; i < n; ++i) {
    if (!skip()) return false;
  }
  return true;
}

bool MsgpackCursor::skip() {
  MsgValue v;
  return next(v) && skip_contents(v);
}

Status check_body(std::string_view body, const Limits& l) {
  const size_t max_array = std::max({l.max_entries, l.max_devices, l.max_models, l.max_stop_strings});
  MsgpackCursor c(body);
  std::vector<uint64_t> todo{1};  // values still to read at each open level (0: the body)
  todo.reserve(l.max_depth + 2);
  while (!todo.empty()) {
    if (todo.back() == 0) {
      todo.pop_back();
      continue;
    }
    --todo.back();
    MsgValue v;
    if (!c.next(v)) return wire_error(ErrorCode::kBadMsgpack, "truncated or invalid msgpack");
    uint64_t children = 0;
    if (v.kind == MsgKind::kExt) return wire_error(ErrorCode::kTooLarge, "msgpack limit: ext type");
    if (v.kind == MsgKind::kArray) {
      if (v.n > max_array) return wire_error(ErrorCode::kTooLarge, "msgpack limit: array size");
      children = v.n;
    } else if (v.kind == MsgKind::kMap) {
      if (v.n > l.max_map_entries) return wire_error(ErrorCode::kTooLarge, "msgpack limit: map size");
      children = 2ull * v.n;
    } else {
      continue;
    }
    if (todo.size() > l.max_depth) return wire_error(ErrorCode::kTooLarge, "msgpack limit: depth");
    todo.push_back(children);
  }
  if (!c.at_end()) return wire_error(ErrorCode::kBadMsgpack, "trailing bytes after the body");
  return {};
}

}  // namespace rs::schemas::detail
