// The msgpack codec: a Writer and a Reader walk the field lists of fields.h.
#include "rs/schemas/codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <msgpack.hpp>

#include "fields.h"

namespace rs::schemas {
namespace detail {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

struct Counter {
  size_t n = 0;
  template <class T>
  void field(const char*, const T&, Opt) { ++n; }
  void field(const char*, const std::optional<uint64_t>& x, Opt) { n += x.has_value() ? 1 : 0; }
};

class Writer {
 public:
  Writer(Packer& pk, const Limits& l) : pk_(pk), l_(l) {}

  template <class T>
  void write_struct(const T& m) {
    Counter c;
    fields(c, m, l_);
    pk_.pack_map(static_cast<uint32_t>(c.n));
    fields(*this, m, l_);
  }
  void field(const char* k, const std::string& s, Opt) { key(k); pk_.pack(s); }
  void field(const char* k, uint64_t x, Opt) { key(k); pk_.pack(x); }
  void field(const char* k, const std::optional<uint64_t>& x, Opt) {  // absent: not written
    if (x) field(k, *x, Opt{});
  }
  void field(const char* k, uint32_t x, Opt) { key(k); pk_.pack(x); }
  void field(const char* k, int32_t x, Opt) { key(k); pk_.pack(x); }
  void field(const char* k, float x, Opt) { key(k); pk_.pack(x); }
  void field(const char* k, double x, Opt) { key(k); pk_.pack(x); }
  void field(const char* k, bool x, Opt) { key(k); pk_.pack(x); }
  void field(const char* k, Priority x, Opt) { key(k); pk_.pack(std::string(priority_name(x))); }
  void field(const char* k, JobState x, Opt) { key(k); pk_.pack(std::string(job_state_name(x))); }
  void field(const char* k, ErrorCode x, Opt) { key(k); pk_.pack(std::string(error_code_name(x))); }
  void field(const char* k, const std::vector<std::string>& xs, Opt) {
    key(k);
    pk_.pack(xs);
  }
  void field(const char* k, const std::vector<int32_t>& xs, Opt) {
    key(k);
    pk_.pack_array(static_cast<uint32_t>(xs.size()));
    for (int32_t x : xs) pk_.pack(x);
  }
  template <class T>
  void field(const char* k, const std::vector<T>& xs, Opt) {
    key(k);
    pk_.pack_array(static_cast<uint32_t>(xs.size()));
    for (const T& x : xs) write_struct(x);
  }
  template <class T>
  void field(const char* k, const T& x, Opt) {
    key(k);
    write_struct(x);
  }

 private:
  void key(const char* k) { pk_.pack_str(static_cast<uint32_t>(std::strlen(k))); pk_.pack_str_body(k, static_cast<uint32_t>(std::strlen(k))); }
  Packer& pk_;
  const Limits& l_;
};

// Decodes one msgpack map into a struct; the first error sticks and later fields are skipped.
class Reader {
 public:
  Reader(const msgpack::object& map, const Limits& l, std::string path)
      : map_(map), l_(l), path_(std::move(path)) {}
  const Status& status() const { return status_; }

  template <class T>
  static Status read_struct(const msgpack::object& o, T& out, const Limits& l, const std::string& path) {
    if (o.type != msgpack::type::MAP) return wire_error(ErrorCode::kBadMsgpack, where(path) + "expected a map");
    Reader r(o, l, path);
    fields(r, out, l);
    return r.status();
  }

  void field(const char* k, std::string& out, Opt o) {
    const msgpack::object* v = find(k, o);
    if (v == nullptr) return;
    if (v->type != msgpack::type::STR && v->type != msgpack::type::BIN) return type_error(k, "a string");
    size_t n = v->type == msgpack::type::STR ? v->via.str.size : v->via.bin.size;
    const char* p = v->type == msgpack::type::STR ? v->via.str.ptr : v->via.bin.ptr;
    if (o.max != 0 && n > o.max) return fail(o.over, k, "longer than " + std::to_string(o.max) + " bytes");
    out.assign(p, n);
  }
  void field(const char* k, uint64_t& out, Opt o) { read_int(k, out, o); }
  void field(const char* k, std::optional<uint64_t>& out, Opt o) {
    if (find(k, o) == nullptr) return;  // absent (or nil): stays absent
    uint64_t x = 0;
    read_int(k, x, o);
    if (status_.ok()) out = x;
  }
  void field(const char* k, uint32_t& out, Opt o) { read_int(k, out, o); }
  void field(const char* k, int32_t& out, Opt o) { read_int(k, out, o); }
  void field(const char* k, float& out, Opt o) {
    double d = 0;
    if (!read_double(k, d, o)) return;
    if (std::fabs(d) > std::numeric_limits<float>::max()) return range_error(k);
    out = static_cast<float>(d);
  }
  void field(const char* k, double& out, Opt o) { read_double(k, out, o); }
  void field(const char* k, bool& out, Opt o) {
    const msgpack::object* v = find(k, o);
    if (v == nullptr) return;
    if (v->type != msgpack::type::BOOLEAN) return type_error(k, "a boolean");
    out = v->via.boolean;
  }
  void field(const char* k, Priority& out, Opt o) { read_named(k, out, o, parse_priority); }
  void field(const char* k, JobState& out, Opt o) { read_named(k, out, o, parse_job_state); }
  void field(const char* k, ErrorCode& out, Opt o) {
    std::string name;
    field(k, name, Opt{o.required, 64, ErrorCode::kTooLarge, 0});
    if (!status_.ok() || name.empty()) return;
    // An error code this build does not know still decodes (forward compatible): internal.
    out = parse_error_code(name).value_or(ErrorCode::kInternal);
  }
  void field(const char* k, std::vector<std::string>& out, Opt o) {
    const msgpack::object* v = array(k, o);
    if (v == nullptr) return;
    out.clear();
    out.reserve(v->via.array.size);
    for (uint32_t i = 0; i < v->via.array.size && status_.ok(); ++i) {
      const msgpack::object& e = v->via.array.ptr[i];
      if (e.type != msgpack::type::STR) return type_error(k, "an array of strings");
      if (o.max_each != 0 && e.via.str.size > o.max_each) return fail(o.over, k, "element too long");
      out.emplace_back(e.via.str.ptr, e.via.str.size);
    }
  }
  void field(const char* k, std::vector<int32_t>& out, Opt o) {
    const msgpack::object* v = array(k, o);
    if (v == nullptr) return;
    out.clear();
    out.reserve(v->via.array.size);
    for (uint32_t i = 0; i < v->via.array.size; ++i) {
      const msgpack::object& e = v->via.array.ptr[i];
      if (e.type == msgpack::type::POSITIVE_INTEGER && e.via.u64 <= INT32_MAX) {
        out.push_back(static_cast<int32_t>(e.via.u64));
      } else if (e.type == msgpack::type::NEGATIVE_INTEGER && e.via.i64 >= INT32_MIN) {
        out.push_back(static_cast<int32_t>(e.via.i64));
      } else {
        return type_error(k, "an array of 32-bit integers");
      }
    }
  }
  template <class T>
  void field(const char* k, std::vector<T>& out, Opt o) {
    const msgpack::object* v = array(k, o);
    if (v == nullptr) return;
    out.clear();
    out.resize(v->via.array.size);
    for (uint32_t i = 0; i < v->via.array.size && status_.ok(); ++i) {
      status_ = read_struct(v->via.array.ptr[i], out[i], l_, path_ + k + "[" + std::to_string(i) + "].");
    }
  }
  template <class T>
  void field(const char* k, T& out, Opt o) {
    const msgpack::object* v = find(k, o);
    if (v == nullptr) return;
    status_ = read_struct(*v, out, l_, path_ + k + ".");
  }

 private:
  static std::string where(const std::string& path) { return path.empty() ? "" : "'" + path + "': "; }

  // The value for key k, or nullptr (missing/nil, or an error already recorded).
  const msgpack::object* find(const char* k, Opt o) {
    if (!status_.ok()) return nullptr;
    size_t klen = std::strlen(k);
    for (uint32_t i = 0; i < map_.via.map.size; ++i) {
      const msgpack::object& key = map_.via.map.ptr[i].key;
      if (key.type == msgpack::type::STR && key.via.str.size == klen &&
          std::memcmp(key.via.str.ptr, k, klen) == 0) {
        const msgpack::object& v = map_.via.map.ptr[i].val;
        if (v.type != msgpack::type::NIL) return &v;
        break;
      }
    }
    if (o.required) fail(ErrorCode::kInvalidArgument, k, "missing required field");
    return nullptr;
  }
  const msgpack::object* array(const char* k, Opt o) {
    const msgpack::object* v = find(k, o);
    if (v == nullptr) return nullptr;
    if (v->type != msgpack::type::ARRAY) return type_error(k, "an array"), nullptr;
    if (o.max != 0 && v->via.array.size > o.max) {
      return fail(o.over, k, "more than " + std::to_string(o.max) + " elements"), nullptr;
    }
    return v;
  }
  template <class I>
  void read_int(const char* k, I& out, Opt o) {
    const msgpack::object* v = find(k, o);
    if (v == nullptr) return;
    if (v->type == msgpack::type::POSITIVE_INTEGER) {
      if (v->via.u64 > static_cast<uint64_t>(std::numeric_limits<I>::max())) return range_error(k);
      out = static_cast<I>(v->via.u64);
    } else if (v->type == msgpack::type::NEGATIVE_INTEGER) {
      if constexpr (std::is_unsigned_v<I>) {
        return range_error(k);
      } else {
        if (v->via.i64 < static_cast<int64_t>(std::numeric_limits<I>::min())) return range_error(k);
        out = static_cast<I>(v->via.i64);
      }
    } else {
      type_error(k, "an integer");
    }
  }
  bool read_double(const char* k, double& out, Opt o) {
    const msgpack::object* v = find(k, o);
    if (v == nullptr) return false;
    switch (v->type) {
      case msgpack::type::FLOAT32:
      case msgpack::type::FLOAT64:
        if (!std::isfinite(v->via.f64)) return fail(ErrorCode::kInvalidArgument, k, "not finite"), false;
        out = v->via.f64;
        return true;
      case msgpack::type::POSITIVE_INTEGER: out = static_cast<double>(v->via.u64); return true;
      case msgpack::type::NEGATIVE_INTEGER: out = static_cast<double>(v->via.i64); return true;
      default: type_error(k, "a number"); return false;
    }
  }
  template <class E, class Parse>
  void read_named(const char* k, E& out, Opt o, Parse parse) {
    std::string name;
    field(k, name, Opt{o.required, 64, ErrorCode::kTooLarge, 0});
    if (!status_.ok() || name.empty()) return;
    auto e = parse(name);
    if (!e) return fail(ErrorCode::kInvalidArgument, k, "unknown value '" + name + "'");
    out = *e;
  }
  void type_error(const char* k, const char* want) { fail(ErrorCode::kBadMsgpack, k, std::string("expected ") + want); }
  void range_error(const char* k) { fail(ErrorCode::kInvalidArgument, k, "integer out of range"); }
  void fail(ErrorCode code, const char* k, const std::string& what) {
    if (status_.ok()) status_ = wire_error(code, "field '" + path_ + k + "': " + what);
  }

  const msgpack::object& map_;
  const Limits& l_;
  std::string path_;
  Status status_;
};

Status unpack_body(std::string_view body, const Limits& l, msgpack::object_handle& out) {
  if (body.size() > l.max_frame_bytes) {
    return wire_error(ErrorCode::kTooLarge, "body of " + std::to_string(body.size()) + " bytes");
  }
  size_t max_array = std::max({l.max_entries, l.max_devices, l.max_models, l.max_stop_strings});
  msgpack::unpack_limit limit(max_array, l.max_map_entries, l.max_frame_bytes, l.max_frame_bytes, 0,
                              l.max_depth);
  try {
    size_t off = 0;
    out = msgpack::unpack(body.data(), body.size(), off, nullptr, nullptr, limit);
    if (off != body.size()) return wire_error(ErrorCode::kBadMsgpack, "trailing bytes after the body");
  } catch (const msgpack::size_overflow& e) {
    return wire_error(ErrorCode::kTooLarge, std::string("msgpack limit: ") + e.what());
  } catch (const std::bad_alloc&) {
    return wire_error(ErrorCode::kTooLarge, "out of memory decoding the body");
  } catch (const std::exception& e) {
    return wire_error(ErrorCode::kBadMsgpack, e.what());
  } catch (...) {
    return wire_error(ErrorCode::kBadMsgpack, "undecodable body");
  }
  return {};
}

}  // namespace
}  // namespace detail

template <typename T>
std::string encode(const T& message) {
  msgpack::sbuffer buf;
  detail::Packer pk(buf);
  Limits l;
  detail::Writer(pk, l).write_struct(message);
  return std::string(buf.data(), buf.size());
}

template <typename T>
Result<T> decode(std::string_view body, const Limits& limits) {
  msgpack::object_handle handle;
  RS_RETURN_IF_ERROR(detail::unpack_body(body, limits, handle));
  T out;
  RS_RETURN_IF_ERROR(detail::Reader::read_struct(handle.get(), out, limits, ""));
  if constexpr (std::is_same_v<T, SubmitRequest>) {
    RS_RETURN_IF_ERROR(validate(out, limits));
  } else if constexpr (std::is_same_v<T, Dispatch>) {
    RS_RETURN_IF_ERROR(validate(out.request, limits));
  }
  return out;
}

#define RS_INSTANTIATE(T)                          \
  template std::string encode<T>(const T&);        \
  template Result<T> decode<T>(std::string_view, const Limits&);
RS_INSTANTIATE(SubmitRequest)
RS_INSTANTIATE(CancelRequest)
RS_INSTANTIATE(SubscribeRequest)
RS_INSTANTIATE(StatusRequest)
RS_INSTANTIATE(WorkersRequest)
RS_INSTANTIATE(Ping)
RS_INSTANTIATE(Accepted)
RS_INSTANTIATE(Rejected)
RS_INSTANTIATE(TokenBatch)
RS_INSTANTIATE(Done)
RS_INSTANTIATE(StatusReply)
RS_INSTANTIATE(WorkersReply)
RS_INSTANTIATE(ErrorReply)
RS_INSTANTIATE(Pong)
RS_INSTANTIATE(WorkerReady)
RS_INSTANTIATE(WorkerHeartbeat)
RS_INSTANTIATE(WorkerTokens)
RS_INSTANTIATE(WorkerDone)
RS_INSTANTIATE(WorkerFailed)
RS_INSTANTIATE(WorkerDisconnect)
RS_INSTANTIATE(Dispatch)
RS_INSTANTIATE(CancelJob)
RS_INSTANTIATE(BrokerHeartbeat)
RS_INSTANTIATE(BrokerDisconnect)
RS_INSTANTIATE(JobRecord)
RS_INSTANTIATE(TokenEntry)
RS_INSTANTIATE(Usage)
RS_INSTANTIATE(Sampling)
#undef RS_INSTANTIATE

}  // namespace rs::schemas
