// The msgpack codec: a Writer (msgpack-c's packer) and a StructReader (straight from the
// bytes, struct_reader.h) walk the field lists of fields.h.
#include "rs/schemas/codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <msgpack.hpp>

#include "fields.h"
#include "msgpack_cursor.h"
#include "struct_reader.h"

namespace rs::schemas {
namespace detail {
namespace {

// The packer's output goes straight into the std::string encode() returns: msgpack's
// sbuffer starts at 8 KiB (a malloc beyond the small-size caches, then a copy) for bodies
// that are mostly under 200 bytes.
// The string is kept sized to its capacity while packing (a write is a bounds check and a
// memcpy, not std::string::append's bookkeeping); finish() cuts it to what was written.
class StringSink {
 public:
  explicit StringSink(std::string& out) : out_(out) { out_.resize(out_.capacity()); }
  void write(const char* data, size_t n) {
    std::memcpy(room(n), data, n);
    used_ += n;
  }
  // Space for n more bytes at the end; commit(n) once they are written.
  char* room(size_t n) {
    if (used_ + n > out_.size()) out_.resize(std::max(2 * out_.size(), used_ + n));
    return out_.data() + used_;
  }
  void commit(size_t n) { used_ += n; }
  void finish() { out_.resize(used_); }

 private:
  std::string& out_;
  size_t used_ = 0;
};

using Packer = msgpack::packer<StringSink>;

struct Counter {
  size_t n = 0;
  template <class T>
  void field(const char*, const T&, Opt) { ++n; }
  template <class T>
  void field(const char*, const std::vector<T>& xs, Opt o) { n += o.omit_empty && xs.empty() ? 0 : 1; }
  void field(const char*, const std::optional<uint64_t>& x, Opt) { n += x.has_value() ? 1 : 0; }
};

class Writer {
 public:
  Writer(StringSink& sink, Packer& pk, const Limits& l) : sink_(sink), pk_(pk), l_(l) {}

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
  void field(const char* k, float x, Opt) { key(k); real(x); }
  void field(const char* k, double x, Opt) { key(k); real(x); }
  void field(const char* k, bool x, Opt) { key(k); pk_.pack(x); }
  void field(const char* k, Priority x, Opt) { key(k); str(priority_name(x)); }
  void field(const char* k, JobState x, Opt) { key(k); str(job_state_name(x)); }
  void field(const char* k, ErrorCode x, Opt) { key(k); str(error_code_name(x)); }
  void field(const char* k, const std::vector<std::string>& xs, Opt) {
    key(k);
    pk_.pack(xs);
  }
  void field(const char* k, const std::vector<int32_t>& xs, Opt o) {
    if (o.omit_empty && xs.empty()) return;  // as Counter counts it
    key(k);
    pk_.pack_array(static_cast<uint32_t>(xs.size()));
    for (int32_t x : xs) pk_.pack(x);
  }
  template <class T>
  void field(const char* k, const std::vector<T>& xs, Opt o) {
    if (o.omit_empty && xs.empty()) return;
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
  // Keys are short literals: a fixstr (header byte and body) written in one piece.
  // Inlined into each field list, where k is a literal: its length is a constant.
  __attribute__((always_inline)) void key(const char* k) {
    const size_t n = std::strlen(k);
    if (n >= 32) {
      pk_.pack_str(static_cast<uint32_t>(n));
      pk_.pack_str_body(k, static_cast<uint32_t>(n));
      return;
    }
    char* out = sink_.room(n + 1);
    out[0] = static_cast<char>(0xa0 | n);
    std::memcpy(out + 1, k, n);
    sink_.commit(n + 1);
  }
  // msgpack-c packs an integral float as an integer, after a range check that lets exactly
  // 2^64 through to an out-of-range (undefined) conversion; that one value is written here
  // as a float64 / float32 itself. Found by the wire_worker fuzz target (docs/FUZZING.md).
  template <class F>
  void real(F x) {
    constexpr F kTwoTo64 = F(18446744073709551616.0);
    if (x != kTwoTo64) {
      pk_.pack(x);
      return;
    }
    if constexpr (sizeof(F) == 8) {
      char* out = sink_.room(9);
      out[0] = static_cast<char>(0xcb);
      uint64_t bits = std::bit_cast<uint64_t>(static_cast<double>(x));
      for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
      sink_.commit(9);
    } else {
      char* out = sink_.room(5);
      out[0] = static_cast<char>(0xca);
      uint32_t bits = std::bit_cast<uint32_t>(static_cast<float>(x));
      for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<char>(bits >> (24 - 8 * i));
      sink_.commit(5);
    }
  }
  void str(std::string_view s) {
    pk_.pack_str(static_cast<uint32_t>(s.size()));
    pk_.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }
  StringSink& sink_;
  Packer& pk_;
  const Limits& l_;
};

}  // namespace
}  // namespace detail

// Most bodies fit: one allocation, the string grows (doubling) past it.
constexpr size_t kEncodeReserve = 256;

template <typename T>
std::string encode(const T& message) {
  std::string out;
  out.reserve(kEncodeReserve);
  detail::StringSink sink(out);
  detail::Packer pk(sink);
  Limits l;
  detail::Writer(sink, pk, l).write_struct(message);
  sink.finish();
  return out;
}

template <typename T>
Result<T> decode(std::string_view body, const Limits& limits) {
  if (body.size() > limits.max_frame_bytes) {
    return wire_error(ErrorCode::kTooLarge, "body of " + std::to_string(body.size()) + " bytes");
  }
  RS_RETURN_IF_ERROR(detail::check_body(body, limits));
  T out;
  detail::MsgpackCursor cursor(body);
  RS_RETURN_IF_ERROR(detail::StructReader::read_struct(cursor, out, limits, detail::FieldPath{}));
  if constexpr (std::is_same_v<T, SubmitRequest>) {
    RS_RETURN_IF_ERROR(validate(out, limits));
  } else if constexpr (std::is_same_v<T, Dispatch>) {
    RS_RETURN_IF_ERROR(validate(out.request, limits));
  }
  return out;
}

// Keys, headers and numbers: at most ~60 bytes an entry, ~30 a TokenAlt, ~40 a PromptToken.
size_t approx_wire_bytes(const TokenEntry& entry) {
  size_t n = 64 + entry.job_id.size() + entry.text.size();
  for (const TokenAlt& a : entry.top) n += 32 + a.text.size();
  for (const PromptToken& p : entry.prompt) {
    n += 40 + p.text.size();
    for (const TokenAlt& a : p.top) n += 32 + a.text.size();
  }
  return n;
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
RS_INSTANTIATE(TokenExtrasList)
#undef RS_INSTANTIATE

}  // namespace rs::schemas
