// Scalar and string filters (jinja2/filters.py 3.1.2 semantics, autoescape off) and the
// filter registry. transformers replaces tojson with json.dumps(ensure_ascii=False, ...).
#include <cmath>
#include <cstdlib>

#include "builtins.h"
#include "filters_impl.h"
#include "json_io.h"
#include "py_str.h"
#include "str_ops.h"

namespace rs::engine::jinja {

namespace {

// soft_str: str(value), keeping a Markup string as it is.
std::string soft_str(const Value& v) {
  return v.is_string() ? v.str() : py_str(v);
}

Value f_upper(Evaluator&, const Value& v, CallArgs&) {
  return Value::string(py_upper(soft_str(v)));
}
Value f_lower(Evaluator&, const Value& v, CallArgs&) {
  return Value::string(py_lower(soft_str(v)));
}
Value f_capitalize(Evaluator&, const Value& v, CallArgs&) {
  return Value::string(py_capitalize(soft_str(v)));
}

// Jinja's own title: words start after -, whitespace, (, {, [ or <.
Value f_title(Evaluator&, const Value& v, CallArgs&) {
  std::string s = soft_str(v), out, word;
  auto is_delim = [](char c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' ||
           std::isspace(static_cast<unsigned char>(c));
  };
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    bool delim = is_delim(s[i]);
    while (j < s.size() && is_delim(s[j]) == delim) ++j;
    std::string piece = s.substr(i, j - i);
    if (delim) {
      out += piece;
    } else {
      out += py_capitalize(piece);
    }
    i = j;
  }
  return Value::string(std::move(out));
}

Value f_trim(Evaluator&, const Value& v, CallArgs& args) {
  ArgBinder b("trim", args, {"chars"});
  std::optional<std::string> chars;
  if (b.has(0) && !b.get(0).is_none()) chars = soft_str(b.get(0));
  return Value::string(py_strip(soft_str(v), chars, true, true), v.is_markup());
}

Value f_string(Evaluator&, const Value& v, CallArgs&) {
  return v.is_string() ? v : Value::string(py_str(v));
}

Value f_safe(Evaluator&, const Value& v, CallArgs&) {
  return Value::string(soft_str(v), true);
}

Value f_escape(Evaluator&, const Value& v, CallArgs&) {
  if (v.is_markup()) return v;
  return Value::string(html_escape(soft_str(v)), true);
}

Value f_replace(Evaluator&, const Value& v, CallArgs& args) {
  ArgBinder b("replace", args, {"old", "new", "count"});
  int64_t count = b.has(2) && !b.get(2).is_none() ? b.get(2).as_int() : -1;
  return Value::string(py_replace(soft_str(v), soft_str(b.get(0)), soft_str(b.get(1)), count));
}

Value f_default(Evaluator&, const Value& v, CallArgs& args) {
  ArgBinder b("default", args, {"default_value", "boolean"});
  bool boolean = b.has(1) && b.get(1).truthy();
  if (v.is_undefined() || (boolean && !v.truthy())) return b.get_or(0, Value::string(""));
  return v;
}

Value f_length(Evaluator&, const Value& v, CallArgs&) {
  return Value::integer(py_len(v));
}

Value f_tojson(Evaluator&, const Value& v, CallArgs& args) {
  ArgBinder b("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = b.has(0) && b.get(0).truthy();
  if (b.has(1) && !b.get(1).is_none()) {
    const Value& ind = b.get(1);
    if (ind.is_string()) {
      o.indent = ind.str();
    } else if (ind.is_int() || ind.is_bool()) {
      o.indent = std::string(
          static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(ind.as_int(), 1024))), ' ');
    } else {
      fail("can't multiply sequence by non-int of type '" + ind.type_name() + "'");
    }
    o.item_separator.assign(1, ',');
  }
  if (b.has(2) && !b.get(2).is_none()) {
    std::vector<Value> seps = unpack(b.get(2), 2);
    if (!seps[0].is_string() || !seps[1].is_string()) fail("tojson separators must be strings");
    o.item_separator = seps[0].str();
    o.key_separator = seps[1].str();
  }
  o.sort_keys = b.has(3) && b.get(3).truthy();
  return Value::string(to_json(v, o));
}

Value f_indent(Evaluator&, const Value& v, CallArgs& args) {
  ArgBinder b("indent", args, {"width", "first", "blank"});
  std::string indention;
  if (b.has(0) && b.get(0).is_string()) {
    indention = b.get(0).str();
  } else {
    int64_t w = b.has(0) ? b.get(0).as_int() : 4;
    indention.assign(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(w, 1024))), ' ');
  }
  bool first = b.has(1) && b.get(1).truthy();
  bool blank = b.has(2) && b.get(2).truthy();
  std::vector<std::string> lines = py_splitlines(soft_str(v) + "\n");
  std::string rv;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) rv += '\n';
    if (i > 0 && (blank || !lines[i].empty())) rv += indention;
    rv += lines[i];
    check_string_size(rv.size());
  }
  if (first) rv = indention + rv;
  return Value::string(std::move(rv), v.is_markup());
}

// Python int(str): optional sign, digits with single underscores, surrounding whitespace.
bool parse_int(std::string s, int base, int64_t& out) {
  s = py_strip(s, std::nullopt, true, true);
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() && s[i - 1] != '_' &&
        std::isalnum(static_cast<unsigned char>(s[i + 1])))
      continue;
    digits += s[i];
  }
  if (digits.empty()) return false;
  if (base == 16 && digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
    digits = digits.substr(2);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(digits.c_str(), &end, base);
  if (errno != 0 || end == nullptr || *end != '\0' ||
      std::isspace(static_cast<unsigned char>(digits[0])))
    return false;
  out = v;
  return true;
}

bool parse_float(const Value& v, double& out) {
  if (v.is_number()) {
    out = v.as_double();
    return true;
  }
  if (!v.is_string()) return false;
  std::string s = py_strip(v.str(), std::nullopt, true, true);
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end != nullptr && *end == '\0' && s.find_first_of("xXpP") == std::string::npos;
}

Value f_int(Evaluator&, const Value& v, CallArgs& args) {
  ArgBinder b("int", args, {"default", "base"});
  Value fallback = b.get_or(0, Value::integer(0));
  if (v.is_undefined()) fail(v.undefined_message());
  int64_t i;
  if (v.is_string() && parse_int(v.str(), b.has(1) ? static_cast<int>(b.get(1).as_int()) : 10, i))
    return Value::integer(i);
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  double d;
  if (!parse_float(v, d) || std::isnan(d)) return fallback;
  if (std::isinf(d) || std::fabs(d) >= 9.2e18) fail("cannot convert float to integer");
  return Value::integer(static_cast<int64_t>(d));
}

Value f_float(Evaluator&, const Value& v, CallArgs& args) {
  ArgBinder b("float", args, {"default"});
  if (v.is_undefined()) fail(v.undefined_message());
  double d;
  if (parse_float(v, d)) return Value::number(d);
  return b.get_or(0, Value::number(0.0));
}

Value f_abs(Evaluator&, const Value& v, CallArgs&) {
  if (v.is_float()) return Value::number(std::fabs(v.as_double()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) fail("integer overflow");
    return Value::integer(std::llabs(v.as_int()));
  }
  if (v.is_undefined()) fail(v.undefined_message());
  fail("bad operand type for abs(): '" + v.type_name() + "'");
}

Value f_round(Evaluator&, const Value& v, CallArgs& args) {
  ArgBinder b("round", args, {"precision", "method"});
  int64_t precision = b.has(0) ? b.get(0).as_int() : 0;
  std::string method = b.has(1) ? soft_str(b.get(1)) : "common";
  if (method != "common" && method != "floor" && method != "ceil")
    fail("method must be common, ceil or floor");
  if (!v.is_number()) fail("type " + v.type_name() + " doesn't define __round__ method");
  if (method == "common" && !v.is_float()) return Value::integer(v.as_int());
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * scale;
  double r = method == "floor"  ? std::floor(x)
             : method == "ceil" ? std::ceil(x)
                                : std::nearbyint(x);
  return Value::number(r / scale);
}

Value f_wordcount(Evaluator&, const Value& v, CallArgs&) {
  int64_t n = 0;
  bool in_word = false;
  for (uint32_t c : utf8_decode(soft_str(v))) {
    bool w = c == '_' || (c < 0x80 ? std::isalnum(static_cast<int>(c)) != 0 : !is_py_space(c));
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value f_center(Evaluator& ev, const Value& v, CallArgs& args) {
  ArgBinder b("center", args, {"width"});
  CallArgs inner;
  inner.pos.push_back(b.get_or(0, Value::integer(80)));
  return call_method(ev, Value::string(soft_str(v)), "center", inner);
}

Value f_truncate(Evaluator&, const Value& v, CallArgs& args) {
  ArgBinder b("truncate", args, {"length", "killwords", "end", "leeway"});
  int64_t length = b.has(0) ? b.get(0).as_int() : 255;
  bool killwords = b.has(1) && b.get(1).truthy();
  std::string end = b.has(2) ? soft_str(b.get(2)) : "...";
  int64_t leeway = b.has(3) && !b.get(3).is_none() ? b.get(3).as_int() : 5;
  std::vector<uint32_t> cps = utf8_decode(soft_str(v));
  auto n = static_cast<int64_t>(cps.size());
  if (n <= length + leeway) return Value::string(soft_str(v));
  int64_t keep = std::max<int64_t>(0, length - static_cast<int64_t>(utf8_length(end)));
  std::string head = utf8_encode(cps, 0, static_cast<size_t>(keep));
  if (!killwords) {
    size_t sp = head.rfind(' ');
    if (sp != std::string::npos) head.resize(sp);
  }
  return Value::string(head + end);
}

Value f_format(Evaluator&, const Value& v, CallArgs& args) {
  if (!args.kw.empty()) fail("format filter with keyword arguments is not supported");
  return binary_op(BinOp::kMod, Value::string(soft_str(v)), Value::tuple(args.pos));
}

Value f_attr(Evaluator& ev, const Value& v, CallArgs& args) {
  ArgBinder b("attr", args, {"name"});
  return ev.get_attr(v, soft_str(b.get(0)));
}

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

const FilterEntry kFilters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"first", f_first},
    {"float", f_float},
    {"format", f_format},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"slice", f_slice},
    {"sort", f_sort},
    {"string", f_string},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const auto& f : kFilters) {
    if (f.name == name) return f.fn;
  }
  return nullptr;
}

}  // namespace rs::engine::jinja
