// Python's arithmetic operators (int overflow is an error instead of a big int), `in`,
// slicing and tuple unpacking, with Python's error messages.
#include <cmath>
#include <cstdio>

#include "evaluator.h"
#include "py_str.h"

namespace rs::engine::jinja {

namespace {

constexpr size_t kMaxListItems = 1u << 22;

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  fail(std::string("unsupported operand type(s) for ") + op + ": '" + a.type_name() + "' and '" +
       b.type_name() + "'");
}

enum class IntOp { kAdd, kSub, kMul };

int64_t checked(IntOp op, int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflow = op == IntOp::kAdd   ? __builtin_add_overflow(a, b, &r)
                  : op == IntOp::kSub ? __builtin_sub_overflow(a, b, &r)
                                      : __builtin_mul_overflow(a, b, &r);
  if (overflow) fail("integer overflow");
  return r;
}

Value add(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return Value::number(a.as_double() + b.as_double());
    return Value::integer(checked(IntOp::kAdd, a.as_int(), b.as_int()));
  }
  if (a.is_string() && b.is_string()) {
    check_string_size(a.str().size() + b.str().size());
    bool markup = a.is_markup() || b.is_markup();
    std::string left = markup && !a.is_markup() ? html_escape(a.str()) : a.str();
    left += markup && !b.is_markup() ? html_escape(b.str()) : b.str();
    return Value::string(std::move(left), markup);
  }
  if (a.kind() == b.kind() && (a.is_list() || a.is_tuple())) {
    std::vector<Value> items = a.list().items;
    if (items.size() + b.list().items.size() > kMaxListItems) fail("list too large");
    items.insert(items.end(), b.list().items.begin(), b.list().items.end());
    return a.is_list() ? Value::list(std::move(items)) : Value::tuple(std::move(items));
  }
  if (a.is_string() || a.is_list() || a.is_tuple()) {
    fail("can only concatenate " + a.type_name() + " (not \"" + b.type_name() + "\") to " +
         a.type_name());
  }
  unsupported("+", a, b);
}

Value repeat(const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    if (n > 0 && seq.str().size() * static_cast<uint64_t>(n) > kMaxStringBytes)
      check_string_size(kMaxStringBytes + 1);
    std::string out;
    out.reserve(seq.str().size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return Value::string(std::move(out), seq.is_markup());
  }
  const auto& items = seq.list().items;
  if (n > 0 && items.size() * static_cast<uint64_t>(n) > kMaxListItems) fail("list too large");
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
}

Value mul(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return Value::number(a.as_double() * b.as_double());
    return Value::integer(checked(IntOp::kMul, a.as_int(), b.as_int()));
  }
  bool a_seq = a.is_string() || a.is_list() || a.is_tuple();
  bool b_seq = b.is_string() || b.is_list() || b.is_tuple();
  if (a_seq && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
  if (b_seq && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
  if (a_seq && b.is_float()) fail("can't multiply sequence by non-int of type 'float'");
  unsupported("*", a, b);
}

int64_t floor_div(int64_t a, int64_t b) {
  if (a == INT64_MIN && b == -1) fail("integer overflow");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value divide(BinOp op, const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number())
    unsupported(op == BinOp::kDiv ? "/" : op == BinOp::kMod ? "%" : "//", a, b);
  bool floats = a.is_float() || b.is_float();
  if (b.as_double() == 0.0) {
    if (op == BinOp::kDiv) fail(floats ? "float division by zero" : "division by zero");
    fail(floats ? "float modulo" : "integer division or modulo by zero");
  }
  if (op == BinOp::kDiv) return Value::number(a.as_double() / b.as_double());
  if (!floats) {
    int64_t x = a.as_int(), y = b.as_int();
    if (op == BinOp::kFloorDiv) return Value::integer(floor_div(x, y));
    if (y == -1) return Value::integer(0);
    int64_t m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::integer(m);
  }
  double x = a.as_double(), y = b.as_double();
  if (op == BinOp::kFloorDiv) return Value::number(std::floor(x / y));
  double m = std::fmod(x, y);
  if (m != 0 && ((m < 0) != (y < 0))) m += y;
  return Value::number(m);
}

Value power(const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) unsupported("** or pow()", a, b);
  if (a.is_float() || b.is_float() || b.as_int() < 0)
    return Value::number(std::pow(a.as_double(), b.as_double()));
  int64_t base = a.as_int(), exp = b.as_int(), r = 1;
  while (exp > 0) {
    if (exp & 1) r = checked(IntOp::kMul, r, base);
    exp >>= 1;
    if (exp > 0) base = checked(IntOp::kMul, base, base);
  }
  return Value::integer(r);
}

std::string format_percent_one(char conv, const std::string& flags, const Value& v) {
  char buf[512];
  std::string fmt = "%" + flags;
  switch (conv) {
    case 's':
      return py_str(v);
    case 'r':
      return py_repr(v);
    case 'd':
    case 'i':
      if (!v.is_number()) fail("%d format: a real number is required, not " + v.type_name());
      std::snprintf(buf, sizeof buf, (fmt + "lld").c_str(),
                    static_cast<long long>(v.is_float() ? std::trunc(v.as_double()) : v.as_int()));
      return buf;
    case 'f':
    case 'e':
    case 'g':
      if (!v.is_number()) fail("must be real number, not " + v.type_name());
      std::snprintf(buf, sizeof buf, (fmt + conv).c_str(), v.as_double());
      return buf;
    case 'x':
      if (!v.is_int() && !v.is_bool())
        fail("%x format: an integer is required, not " + v.type_name());
      std::snprintf(buf, sizeof buf, (fmt + "llx").c_str(), static_cast<long long>(v.as_int()));
      return buf;
    default:
      fail(std::string("unsupported format character '") + conv + "'");
  }
}

Value percent_format(const Value& fmt, const Value& args) {
  std::vector<Value> vals = args.is_tuple() ? args.list().items : std::vector<Value>{args};
  const std::string& f = fmt.str();
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    std::string flags;
    ++i;
    while (i < f.size() && std::string_view("-+ #0123456789.").find(f[i]) != std::string_view::npos)
      flags += f[i++];
    if (i >= f.size()) fail("incomplete format");
    if (f[i] == '%') {
      out += '%';
      continue;
    }
    if (next >= vals.size()) fail("not enough arguments for format string");
    out += format_percent_one(f[i], flags, vals[next++]);
    check_string_size(out.size());
  }
  if (next < vals.size() && args.is_tuple())
    fail("not all arguments converted during string formatting");
  return Value::string(std::move(out));
}

}  // namespace

Value binary_op(BinOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail(a.undefined_message());
  if (b.is_undefined()) fail(b.undefined_message());
  switch (op) {
    case BinOp::kAdd:
      return add(a, b);
    case BinOp::kSub:
      if (!a.is_number() || !b.is_number()) unsupported("-", a, b);
      if (a.is_float() || b.is_float()) return Value::number(a.as_double() - b.as_double());
      return Value::integer(checked(IntOp::kSub, a.as_int(), b.as_int()));
    case BinOp::kMul:
      return mul(a, b);
    case BinOp::kMod:
      if (a.is_string()) return percent_format(a, b);
      return divide(op, a, b);
    case BinOp::kDiv:
    case BinOp::kFloorDiv:
      return divide(op, a, b);
    case BinOp::kPow:
      return power(a, b);
  }
  fail("unknown operator");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::kUndefined:
      return false;
    case Kind::kString:
      if (!item.is_string())
        fail("'in <string>' requires string as left operand, not " + item.type_name());
      return container.str().find(item.str()) != std::string::npos;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kGenerator:
      for (const auto& v : container.list().items) {
        if (py_equal(v, item)) return true;
      }
      return false;
    case Kind::kDict:
      if (item.is_list() || item.is_dict()) fail("unhashable type: '" + item.type_name() + "'");
      return container.dict().find(item) != nullptr;
    case Kind::kObject:
      if (const Dict* d = container.object().as_namespace_dict()) return d->find(item) != nullptr;
      [[fallthrough]];
    default:
      fail("argument of type '" + container.type_name() + "' is not iterable");
  }
}

namespace {

int64_t slice_index(const Value& v) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_undefined()) fail(v.undefined_message());
  fail("slice indices must be integers or None or have an __index__ method");
}

// CPython's PySlice_AdjustIndices.
void adjust(int64_t n, const Value& start_v, const Value& stop_v, int64_t step, int64_t& start,
            int64_t& stop) {
  auto clamp = [n, step](const Value& v, bool is_start) -> int64_t {
    if (v.is_none()) {
      if (step > 0) return is_start ? 0 : n;
      return is_start ? n - 1 : -1;
    }
    int64_t i = slice_index(v);
    if (i < 0) {
      i += n;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= n) {
      i = step < 0 ? n - 1 : n;
    }
    return i;
  };
  start = clamp(start_v, true);
  stop = clamp(stop_v, false);
}

}  // namespace

Value slice_value(const Value& obj, const Value& start_v, const Value& stop_v,
                  const Value& step_v) {
  if (obj.is_undefined()) fail(obj.undefined_message());
  int64_t step = step_v.is_none() ? 1 : slice_index(step_v);
  if (step == 0) fail("slice step cannot be zero");
  bool is_str = obj.is_string();
  if (!is_str && !obj.is_list() && !obj.is_tuple())
    fail("'" + obj.type_name() + "' object is not subscriptable");
  std::vector<uint32_t> cps;
  bool ascii = is_str && is_ascii(obj.str());
  if (is_str && !ascii) cps = utf8_decode(obj.str());
  int64_t n =
      is_str ? (ascii ? static_cast<int64_t>(obj.str().size()) : static_cast<int64_t>(cps.size()))
             : static_cast<int64_t>(obj.list().items.size());
  int64_t start, stop;
  adjust(n, start_v, stop_v, step, start, stop);
  std::string s;
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    auto k = static_cast<size_t>(i);
    if (!is_str) {
      items.push_back(obj.list().items[k]);
    } else if (ascii) {
      s += obj.str()[k];
    } else {
      utf8_append(s, cps[k]);
    }
  }
  if (is_str) return Value::string(std::move(s));
  return obj.is_list() ? Value::list(std::move(items)) : Value::tuple(std::move(items));
}

std::vector<Value> unpack(const Value& item, size_t n) {
  if (item.is_none() || item.is_number() || item.is_object()) {
    fail("cannot unpack non-iterable " + item.type_name() + " object");
  }
  std::vector<Value> parts = py_iterate(item);
  if (parts.size() > n) fail("too many values to unpack (expected " + std::to_string(n) + ")");
  if (parts.size() < n) {
    fail("not enough values to unpack (expected " + std::to_string(n) + ", got " +
         std::to_string(parts.size()) + ")");
  }
  return parts;
}

}  // namespace rs::engine::jinja
