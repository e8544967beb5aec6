#include "msgpack_cursor.h"

#include <algorithm>

#include "rs/schemas/errors.h"

namespace rs::schemas::detail {

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
  const size_t max_array =
      std::max({l.max_entries, l.max_devices, l.max_models, l.max_stop_strings});
  MsgpackCursor c(body);
  constexpr size_t kMaxLevels = 64;
  const size_t max_depth = std::min(l.max_depth, kMaxLevels - 1);
  uint64_t todo[kMaxLevels];  // values still to read at each open level (0: the body)
  size_t levels = 1;
  todo[0] = 1;
  while (levels != 0) {
    if (todo[levels - 1] == 0) {
      --levels;
      continue;
    }
    --todo[levels - 1];
    MsgValue v;
    if (!c.next(v)) return wire_error(ErrorCode::kBadMsgpack, "truncated or invalid msgpack");
    uint64_t children = 0;
    if (v.kind == MsgKind::kExt) return wire_error(ErrorCode::kTooLarge, "msgpack limit: ext type");
    if (v.kind == MsgKind::kArray) {
      if (v.n > max_array) return wire_error(ErrorCode::kTooLarge, "msgpack limit: array size");
      children = v.n;
    } else if (v.kind == MsgKind::kMap) {
      if (v.n > l.max_map_entries)
        return wire_error(ErrorCode::kTooLarge, "msgpack limit: map size");
      children = 2ull * v.n;
    } else {
      continue;
    }
    if (levels > max_depth) return wire_error(ErrorCode::kTooLarge, "msgpack limit: depth");
    todo[levels++] = children;
  }
  if (!c.at_end()) return wire_error(ErrorCode::kBadMsgpack, "trailing bytes after the body");
  return {};
}

}  // namespace rs::schemas::detail
