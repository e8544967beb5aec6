// StructReader: decodes msgpack maps straight into the message structs, walking the field
// lists of fields.h over a MsgpackCursor (no msgpack object tree, no copies but the
// fields' own). The body's structure was checked first (check_body), so a read here fails
// only on a field: a wrong type, a value out of range or over its limit, a missing required
// field. The first error ends the read. For a key given twice the first occurrence counts;
// unknown keys are skipped. Internal to rs_schemas; one read at a time per instance.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "fields.h"
#include "msgpack_cursor.h"

namespace rs::schemas::detail {

// Where a field is, for error messages only (built into a string on error).
struct FieldPath {
  const FieldPath* parent = nullptr;
  const char* key = nullptr;
  int64_t index = -1;  // >= 0: an array element
  std::string to_string() const {
    std::string s = parent == nullptr ? std::string() : parent->to_string();
    if (key != nullptr) s += key;
    if (index >= 0) s += "[" + std::to_string(index) + "]";
    if (key != nullptr || index >= 0) s += ".";
    return s;
  }
};

// A struct's field names in list order and which are required (at most 64 fields are
// tracked), collected once per type from its field list.
template <class T>
class FieldTable {
 public:
  static const FieldTable& get() {
    static const FieldTable table;
    return table;
  }
  // The field's index in the list, or -1. Encoders write the fields in list order, so
  // `hint` (the index after the previous key's) is tried first.
  int find(std::string_view key, size_t hint = 0) const {
    if (hint < names_.size() && same(names_[hint], key)) return static_cast<int>(hint);
    for (size_t i = 0; i < names_.size(); ++i) {
      if (same(names_[i], key)) return static_cast<int>(i);
    }
    return -1;
  }
  const char* name(size_t i) const { return names_[i].data(); }
  // Keys are a few bytes: compared inline, not through a memcmp call.
  static bool same(std::string_view name, std::string_view key) {
    if (name.size() != key.size() || key.empty()) return false;
    for (size_t i = 0; i < key.size(); ++i) {
      if (name[i] != key[i]) return false;
    }
    return true;
  }
  uint64_t required() const { return required_; }

  template <class F>
  void field(const char* k, F&, Opt o) {
    if (o.required && names_.size() < 64) required_ |= 1ull << names_.size();
    names_.emplace_back(k);
  }

 private:
  FieldTable() {
    T dummy{};
    fields(*this, dummy, Limits{});
  }
  std::vector<std::string_view> names_;
  uint64_t required_ = 0;
};

class StructReader {
 public:
  template <class T>
  static Status read_struct(MsgpackCursor& c, T& out, const Limits& l, const FieldPath& path) {
    MsgValue map;
    if (!c.next(map)) return wire_error(ErrorCode::kBadMsgpack, "truncated msgpack");
    if (map.kind != MsgKind::kMap) {
      std::string p = path.to_string();
      return wire_error(ErrorCode::kBadMsgpack,
                        (p.empty() ? "" : "'" + p + "': ") + "expected a map");
    }
    return read_map(c, map.n, out, l, path);
  }

  // The n pairs of a map whose header was read.
  template <class T>
  static Status read_map(MsgpackCursor& c, uint32_t n, T& out, const Limits& l,
                         const FieldPath& path) {
    const FieldTable<T>& table = FieldTable<T>::get();
    StructReader r(c, l, path);
    size_t hint = 0;
    for (uint32_t i = 0; i < n && r.status_.ok(); ++i) {
      MsgValue key;
      if (!c.next(key)) return wire_error(ErrorCode::kBadMsgpack, "truncated msgpack");
      const int index = key.kind == MsgKind::kStr ? table.find(key.s, hint) : -1;
      if (index < 0) {  // not a field of ours: its value is skipped
        if (!c.skip_contents(key) || !c.skip())
          return wire_error(ErrorCode::kBadMsgpack, "truncated msgpack");
        continue;
      }
      hint = static_cast<size_t>(index) + 1;
      r.target_ = static_cast<size_t>(index);
      r.index_ = 0;
      fields(r, out, l);
    }
    const uint64_t missing = table.required() & ~r.set_;
    if (r.status_.ok() && missing != 0) {
      r.fail(ErrorCode::kInvalidArgument, table.name(static_cast<size_t>(__builtin_ctzll(missing))),
             "missing required field");
    }
    return r.status_;
  }

  // One field of the struct's list: decoded when its name is the current key.
  template <class F>
  __attribute__((always_inline)) void field(const char* k, F& out, Opt o) {
    const size_t index = index_++;
    if (index != target_) return;
    read_field(k, index, out, o);
  }

 private:
  template <class F>
  void read_field(const char* k, size_t index, F& out, Opt o) {
    const uint64_t bit = index < 64 ? 1ull << index : 0;
    if ((seen_ & bit) != 0) {  // a repeated key: the first one counts
      if (!c_.skip()) status_ = wire_error(ErrorCode::kBadMsgpack, "truncated msgpack");
      return;
    }
    seen_ |= bit;
    MsgValue v;
    if (!c_.next(v)) {
      status_ = wire_error(ErrorCode::kBadMsgpack, "truncated msgpack");
      return;
    }
    if (v.kind == MsgKind::kNil) return;  // nil: absent
    set_ |= bit;
    read(k, v, out, o);
  }

  StructReader(MsgpackCursor& c, const Limits& l, const FieldPath& path)
      : c_(c), l_(l), path_(path) {}

  void read(const char* k, const MsgValue& v, std::string& out, Opt o) {
    if (v.kind != MsgKind::kStr && v.kind != MsgKind::kBin) return type_error(k, "a string");
    if (o.max != 0 && v.s.size() > o.max)
      return fail(o.over, k, "longer than " + std::to_string(o.max) + " bytes");
    out.assign(v.s.data(), v.s.size());
  }
  void read(const char* k, const MsgValue& v, std::optional<uint64_t>& out, Opt o) {
    uint64_t x = 0;
    read_int(k, v, x);
    if (status_.ok()) out = x;
    (void)o;
  }
  void read(const char* k, const MsgValue& v, uint64_t& out, Opt) { read_int(k, v, out); }
  void read(const char* k, const MsgValue& v, uint32_t& out, Opt) { read_int(k, v, out); }
  void read(const char* k, const MsgValue& v, int32_t& out, Opt) { read_int(k, v, out); }
  void read(const char* k, const MsgValue& v, float& out, Opt) {
    double d = 0;
    if (!read_double(k, v, d)) return;
    if (std::fabs(d) > std::numeric_limits<float>::max()) return range_error(k);
    out = static_cast<float>(d);
  }
  void read(const char* k, const MsgValue& v, double& out, Opt) { read_double(k, v, out); }
  void read(const char* k, const MsgValue& v, bool& out, Opt) {
    if (v.kind != MsgKind::kBool) return type_error(k, "a boolean");
    out = v.b;
  }
  void read(const char* k, const MsgValue& v, Priority& out, Opt) {
    read_named(k, v, out, parse_priority);
  }
  void read(const char* k, const MsgValue& v, JobState& out, Opt) {
    read_named(k, v, out, parse_job_state);
  }
  void read(const char* k, const MsgValue& v, ErrorCode& out, Opt) {
    std::string_view name;
    if (!read_name(k, v, name)) return;
    // An error code this build does not know still decodes (forward compatible): internal.
    out = parse_error_code(name).value_or(ErrorCode::kInternal);
  }
  void read(const char* k, const MsgValue& v, std::vector<std::string>& out, Opt o) {
    if (!array(k, v, o)) return;
    out.clear();
    out.reserve(v.n);
    for (uint32_t i = 0; i < v.n; ++i) {
      MsgValue e;
      if (!next(e)) return;
      if (e.kind != MsgKind::kStr) return type_error(k, "an array of strings");
      if (o.max_each != 0 && e.s.size() > o.max_each) return fail(o.over, k, "element too long");
      out.emplace_back(e.s);
    }
  }
  void read(const char* k, const MsgValue& v, std::vector<int32_t>& out, Opt o) {
    if (!array(k, v, o)) return;
    out.clear();
    out.reserve(v.n);
    for (uint32_t i = 0; i < v.n; ++i) {
      MsgValue e;
      if (!next(e)) return;
      if (e.kind == MsgKind::kUint && e.u <= INT32_MAX) {
        out.push_back(static_cast<int32_t>(e.u));
      } else if (e.kind == MsgKind::kInt && e.i >= INT32_MIN) {
        out.push_back(static_cast<int32_t>(e.i));
      } else {
        return type_error(k, "an array of 32-bit integers");
      }
    }
  }
  template <class T>
  void read(const char* k, const MsgValue& v, std::vector<T>& out, Opt o) {
    if (!array(k, v, o)) return;
    out.clear();
    out.resize(v.n);
    for (uint32_t i = 0; i < v.n && status_.ok(); ++i) {
      FieldPath element{&path_, k, static_cast<int64_t>(i)};
      status_ = read_struct(c_, out[i], l_, element);
    }
  }
  template <class T>
  void read(const char* k, const MsgValue& v, T& out, Opt) {
    if (v.kind != MsgKind::kMap) return type_error_map(k);
    FieldPath nested{&path_, k, -1};
    status_ = read_map(c_, v.n, out, l_, nested);
  }

  bool next(MsgValue& v) {
    if (c_.next(v)) return true;
    status_ = wire_error(ErrorCode::kBadMsgpack, "truncated msgpack");
    return false;
  }
  bool array(const char* k, const MsgValue& v, Opt o) {
    if (v.kind != MsgKind::kArray) return type_error(k, "an array"), false;
    if (o.max != 0 && v.n > o.max)
      return fail(o.over, k, "more than " + std::to_string(o.max) + " elements"), false;
    return true;
  }
  template <class I>
  void read_int(const char* k, const MsgValue& v, I& out) {
    if (v.kind == MsgKind::kUint) {
      if (v.u > static_cast<uint64_t>(std::numeric_limits<I>::max())) return range_error(k);
      out = static_cast<I>(v.u);
    } else if (v.kind == MsgKind::kInt) {
      if constexpr (std::is_unsigned_v<I>) {
        return range_error(k);
      } else {
        if (v.i < static_cast<int64_t>(std::numeric_limits<I>::min())) return range_error(k);
        out = static_cast<I>(v.i);
      }
    } else {
      type_error(k, "an integer");
    }
  }
  bool read_double(const char* k, const MsgValue& v, double& out) {
    switch (v.kind) {
      case MsgKind::kFloat:
        if (!std::isfinite(v.f)) return fail(ErrorCode::kInvalidArgument, k, "not finite"), false;
        out = v.f;
        return true;
      case MsgKind::kUint:
        out = static_cast<double>(v.u);
        return true;
      case MsgKind::kInt:
        out = static_cast<double>(v.i);
        return true;
      default:
        type_error(k, "a number");
        return false;
    }
  }
  // An enum's wire name: a string of at most 64 bytes; empty reads as absent.
  bool read_name(const char* k, const MsgValue& v, std::string_view& name) {
    if (v.kind != MsgKind::kStr && v.kind != MsgKind::kBin) return type_error(k, "a string"), false;
    if (v.s.size() > 64) return fail(ErrorCode::kTooLarge, k, "longer than 64 bytes"), false;
    name = v.s;
    return !name.empty();
  }
  template <class E, class Parse>
  void read_named(const char* k, const MsgValue& v, E& out, Parse parse) {
    std::string_view name;
    if (!read_name(k, v, name)) return;
    auto e = parse(name);
    if (!e)
      return fail(ErrorCode::kInvalidArgument, k, "unknown value '" + std::string(name) + "'");
    out = *e;
  }
  void type_error_map(const char* k) {
    std::string p = path_.to_string() + k + ".";
    if (status_.ok()) status_ = wire_error(ErrorCode::kBadMsgpack, "'" + p + "': expected a map");
  }
  void type_error(const char* k, const char* want) {
    fail(ErrorCode::kBadMsgpack, k, std::string("expected ") + want);
  }
  void range_error(const char* k) { fail(ErrorCode::kInvalidArgument, k, "integer out of range"); }
  void fail(ErrorCode code, const char* k, const std::string& what) {
    if (status_.ok()) status_ = wire_error(code, "field '" + path_.to_string() + k + "': " + what);
  }

  MsgpackCursor& c_;
  const Limits& l_;
  const FieldPath& path_;
  Status status_;
  size_t target_ = 0;  // the index of the field whose key was just read
  size_t index_ = 0;
  uint64_t seen_ = 0;  // fields whose key was read (by index in the list; the first 64)
  uint64_t set_ = 0;   // of those, the ones with a value (not nil)
};

}  // namespace rs::schemas::detail
