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
  uint64_t u = 0;  // kUint
  int64_t i = 0;   // kInt (negative)
  double f = 0;    // kFloat
  std::string_view s;  // kStr, kBin (and kExt's payload)
  uint32_t n = 0;      // kArray elements, kMap pairs
};

class MsgpackCursor {
 public:
  explicit MsgpackCursor(std::string_view data) : p_(data.data()), end_(p_ + data.size()) {}

  // The next value's header; false when the bytes end inside it or start with 0xc1.
  bool next(MsgValue& v);
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

}  // namespace rs::schemas::detail
