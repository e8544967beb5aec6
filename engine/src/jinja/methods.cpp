// str / list / tuple / dict methods as the immutable sandbox allows them: the mutating ones
// (list.append, dict.update...) exist but are unsafe, i.e. refused when called.
#include <algorithm>
#include <array>

#include "builtins.h"
#include "py_str.h"
#include "str_ops.h"

namespace rs::engine::jinja {

namespace {

constexpr std::array<std::string_view, 44> kStrMethods = {
    "capitalize", "casefold",    "center",     "count",      "encode",       "endswith",
    "expandtabs", "find",        "format",     "format_map", "index",        "isalnum",
    "isalpha",    "isascii",     "isdecimal",  "isdigit",    "isidentifier", "islower",
    "isnumeric",  "isprintable", "isspace",    "istitle",    "isupper",      "join",
    "ljust",      "lower",       "lstrip",     "partition",  "removeprefix", "removesuffix",
    "replace",    "rfind",       "rindex",     "rjust",      "rpartition",   "rsplit",
    "rstrip",     "split",       "splitlines", "startswith", "strip",        "swapcase",
    "title",      "upper"};
constexpr std::array<std::string_view, 5> kListSafe = {"index", "count", "copy", "pop", "clear"};
constexpr std::array<std::string_view, 6> kListUnsafe = {"append", "reverse", "insert",
                                                         "sort",   "extend",  "remove"};
constexpr std::array<std::string_view, 6> kDictSafe = {"get",    "items", "keys",
                                                       "values", "copy",  "fromkeys"};
constexpr std::array<std::string_view, 5> kDictUnsafe = {"clear", "pop", "popitem", "setdefault",
                                                         "update"};

template <size_t N>
bool in(const std::array<std::string_view, N>& set, std::string_view name) {
  return std::find(set.begin(), set.end(), name) != set.end();
}

std::optional<std::string> opt_str(const ArgBinder& b, size_t i, const char* fn) {
  if (!b.has(i) || b.get(i).is_none()) return std::nullopt;
  if (!b.get(i).is_string()) fail(std::string(fn) + " arg must be None or str");
  return b.get(i).str();
}

int64_t opt_int(const ArgBinder& b, size_t i, int64_t fallback) {
  if (!b.has(i)) return fallback;
  if (!b.get(i).is_int() && !b.get(i).is_bool())
    fail("'" + b.get(i).type_name() + "' object cannot be interpreted as an integer");
  return b.get(i).as_int();
}

const std::string& str_arg(const ArgBinder& b, size_t i, const char* fn) {
  if (!b.has(i)) fail(std::string(fn) + "() missing required argument");
  if (!b.get(i).is_string())
    fail(std::string(fn) + "() argument must be str, not " + b.get(i).type_name());
  return b.get(i).str();
}

Value str_list(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts) items.push_back(Value::string(std::move(p)));
  return Value::list(std::move(items));
}

bool affix_match(const std::string& s, const Value& affix, bool suffix) {
  auto one = [&](const Value& a) {
    if (!a.is_string())
      fail(std::string(suffix ? "endswith" : "startswith") +
           " first arg must be str or a tuple of str");
    const std::string& x = a.str();
    if (x.size() > s.size()) return false;
    return suffix ? s.compare(s.size() - x.size(), x.size(), x) == 0
                  : s.compare(0, x.size(), x) == 0;
  };
  if (affix.is_tuple()) {
    return std::any_of(affix.list().items.begin(), affix.list().items.end(), one);
  }
  return one(affix);
}

template <typename Pred>
bool all_cps(const std::string& s, Pred p) {
  std::vector<uint32_t> cps = utf8_decode(s);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), p);
}

Value pad(const std::string& s, ArgBinder& b, char where) {
  int64_t width = opt_int(b, 0, 0);
  std::string fill = b.has(1) && b.get(1).is_string() ? b.get(1).str() : " ";
  auto len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return Value::string(s);
  if (width > static_cast<int64_t>(kMaxStringBytes)) check_string_size(kMaxStringBytes + 1);
  int64_t total = width - len;
  int64_t left = where == 'l' ? 0 : where == 'r' ? total : total / 2 + (total & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < total - left; ++i) out += fill;
  return Value::string(std::move(out));
}

Value str_predicate(const std::string& s, std::string_view name) {
  auto alpha = [](uint32_t c) {
    return (c < 0x80 && std::isalpha(static_cast<int>(c))) || c >= 0xaa;
  };
  auto digit = [](uint32_t c) { return c >= '0' && c <= '9'; };
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric")
    return Value::boolean(all_cps(s, digit));
  if (name == "isalpha") return Value::boolean(all_cps(s, alpha));
  if (name == "isalnum")
    return Value::boolean(all_cps(s, [&](uint32_t c) { return alpha(c) || digit(c); }));
  if (name == "isspace") return Value::boolean(all_cps(s, is_py_space));
  if (name == "isascii") return Value::boolean(is_ascii(s));
  if (name == "islower") return Value::boolean(py_is_lower_cased(s, false));
  if (name == "isupper") return Value::boolean(py_is_lower_cased(s, true));
  fail("str." + std::string(name) + "() is not supported");
}

Value partition(const std::string& s, const std::string& sep, bool reverse) {
  if (sep.empty()) fail("empty separator");
  size_t q = reverse ? s.rfind(sep) : s.find(sep);
  if (q == std::string::npos) {
    return reverse ? Value::tuple({Value::string(""), Value::string(""), Value::string(s)})
                   : Value::tuple({Value::string(s), Value::string(""), Value::string("")});
  }
  return Value::tuple(
      {Value::string(s.substr(0, q)), Value::string(sep), Value::string(s.substr(q + sep.size()))});
}

Value str_method_more(const Value& self, std::string_view name, CallArgs& args);

// strip, split, startswith/endswith, replace, case mapping, find/index, count.
Value str_method(const Value& self, std::string_view name, CallArgs& args) {
  const std::string& s = self.str();
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgBinder b(name, args, {"chars"});
    return Value::string(py_strip(s, opt_str(b, 0, "strip"), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    ArgBinder b(name, args, {"sep", "maxsplit"});
    auto sep = opt_str(b, 0, "split");
    int64_t maxsplit = opt_int(b, 1, -1);
    return str_list(name == "split" ? py_split(s, sep, maxsplit) : py_rsplit(s, sep, maxsplit));
  }
  if (name == "startswith" || name == "endswith") {
    ArgBinder b(name, args, {"prefix"});
    if (!b.has(0)) fail(std::string(name) + "() takes at least 1 argument (0 given)");
    return Value::boolean(affix_match(s, b.get(0), name == "endswith"));
  }
  if (name == "replace") {
    ArgBinder b(name, args, {"old", "new", "count"});
    return Value::string(
        py_replace(s, str_arg(b, 0, "replace"), str_arg(b, 1, "replace"), opt_int(b, 2, -1)));
  }
  if (name == "upper") return Value::string(py_upper(s));
  if (name == "lower" || name == "casefold") return Value::string(py_lower(s));
  if (name == "title") return Value::string(py_title(s));
  if (name == "capitalize") return Value::string(py_capitalize(s));
  if (name == "swapcase") return Value::string(py_swapcase(s));
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    ArgBinder b(name, args, {"sub"});
    int64_t i = py_find(s, str_arg(b, 0, "find"), name[0] == 'r');
    if (i < 0 && (name == "index" || name == "rindex")) fail("substring not found");
    return Value::integer(i);
  }
  if (name == "count") {
    ArgBinder b(name, args, {"sub"});
    return Value::integer(py_count(s, str_arg(b, 0, "count")));
  }
  return str_method_more(self, name, args);
}

// join, format, splitlines, affixes, partition, padding and the is* predicates.
Value str_method_more(const Value& self, std::string_view name, CallArgs& args) {
  const std::string& s = self.str();
  if (name == "format") return Value::string(py_format(s, args));
  if (name == "join") {
    ArgBinder b(name, args, {"iterable"});
    std::string out;
    bool first = true;
    for (const Value& v : py_iterate(b.get(0))) {
      if (!v.is_string()) fail("sequence item: expected str instance, " + v.type_name() + " found");
      if (!first) out += s;
      first = false;
      out += v.str();
      check_string_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "splitlines") return str_list(py_splitlines(s));
  if (name == "removeprefix" || name == "removesuffix") {
    ArgBinder b(name, args, {"affix"});
    const std::string& a = str_arg(b, 0, "removeprefix");
    if (affix_match(s, b.get(0), name == "removesuffix")) {
      return Value::string(name == "removeprefix" ? s.substr(a.size())
                                                  : s.substr(0, s.size() - a.size()));
    }
    return Value::string(s);
  }
  if (name == "partition" || name == "rpartition") {
    ArgBinder b(name, args, {"sep"});
    return partition(s, str_arg(b, 0, "partition"), name == "rpartition");
  }
  if (name == "ljust" || name == "rjust" || name == "center") {
    ArgBinder b(name, args, {"width", "fillchar"});
    return pad(s, b, name == "ljust" ? 'l' : name == "rjust" ? 'r' : 'c');
  }
  if (name == "zfill") {
    ArgBinder b(name, args, {"width"});
    int64_t width = opt_int(b, 0, 0);
    auto len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return Value::string(s);
    size_t sign = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    check_string_size(static_cast<size_t>(width));
    return Value::string(s.substr(0, sign) + std::string(static_cast<size_t>(width - len), '0') +
                         s.substr(sign));
  }
  return str_predicate(s, name);
}

Value list_method(const Value& self, std::string_view name, CallArgs& args) {
  auto& items = self.list().items;
  if (name == "index" || name == "count") {
    ArgBinder b(name, args, {"value"});
    int64_t count = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!py_equal(items[i], b.get(0))) continue;
      if (name == "index") return Value::integer(static_cast<int64_t>(i));
      ++count;
    }
    if (name == "index") fail(py_repr(b.get(0)) + " is not in list");
    return Value::integer(count);
  }
  if (name == "copy") return Value::list(items);
  if (name == "clear") {
    items.clear();
    return Value::none();
  }
  ArgBinder b(name, args, {"index"});  // pop
  if (items.empty()) fail("pop from empty list");
  auto n = static_cast<int64_t>(items.size());
  int64_t i = opt_int(b, 0, -1);
  if (i < 0) i += n;
  if (i < 0 || i >= n) fail("pop index out of range");
  Value v = items[static_cast<size_t>(i)];
  items.erase(items.begin() + i);
  return v;
}

Value dict_method(const Value& self, std::string_view name, CallArgs& args) {
  const Dict& d = self.dict();
  if (name == "get") {
    ArgBinder b(name, args, {"key", "default"});
    if (!b.has(0)) fail("get expected at least 1 argument, got 0");
    const Value* v = d.find(b.get(0));
    return v != nullptr ? *v : b.get_or(1, Value::none());
  }
  if (name == "copy") return Value::dict(std::make_shared<Dict>(d));
  std::vector<Value> out;
  out.reserve(d.items.size());
  for (const auto& [k, v] : d.items) {
    if (name == "keys") {
      out.push_back(k);
    } else if (name == "values") {
      out.push_back(v);
    } else {
      out.push_back(Value::tuple({k, v}));
    }
  }
  if (name == "fromkeys") fail("dict.fromkeys is not supported");
  return Value::list(std::move(out));
}

}  // namespace

MethodKind method_kind(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Kind::kString:
      return in(kStrMethods, name) ? MethodKind::kSafe : MethodKind::kNone;
    case Kind::kList:
      if (in(kListSafe, name)) return MethodKind::kSafe;
      return in(kListUnsafe, name) ? MethodKind::kUnsafe : MethodKind::kNone;
    case Kind::kTuple:
      return name == "index" || name == "count" ? MethodKind::kSafe : MethodKind::kNone;
    case Kind::kDict:
      if (in(kDictSafe, name)) return MethodKind::kSafe;
      return in(kDictUnsafe, name) ? MethodKind::kUnsafe : MethodKind::kNone;
    default:
      return MethodKind::kNone;
  }
}

Value call_method(Evaluator& ev, const Value& obj, std::string_view name, CallArgs& args) {
  switch (obj.kind()) {
    case Kind::kString:
      return str_method(obj, name, args);
    case Kind::kList:
    case Kind::kTuple:
      return list_method(obj, name, args);
    case Kind::kDict:
      return dict_method(obj, name, args);
    default:
      fail("'" + obj.type_name() + "' object has no attribute '" + std::string(name) + "'");
  }
}

}  // namespace rs::engine::jinja
