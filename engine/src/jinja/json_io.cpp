// JSON parsing into Values (nlohmann's SAX parser: iterative, so deep input cannot overflow the
// stack; our handler bounds the depth) and Python's json.dumps.
#include "json_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "py_str.h"

namespace rs::engine::jinja {

namespace {

class SaxBuilder {
 public:
  using number_integer_t = nlohmann::json::number_integer_t;
  using number_unsigned_t = nlohmann::json::number_unsigned_t;
  using number_float_t = nlohmann::json::number_float_t;
  using string_t = nlohmann::json::string_t;
  using binary_t = nlohmann::json::binary_t;

  bool null() { return add(Value::none()); }
  bool boolean(bool b) { return add(Value::boolean(b)); }
  bool number_integer(number_integer_t i) { return add(Value::integer(i)); }
  bool number_unsigned(number_unsigned_t u) {
    if (u > static_cast<number_unsigned_t>(INT64_MAX))
      return add(Value::number(static_cast<double>(u)));
    return add(Value::integer(static_cast<int64_t>(u)));
  }
  bool number_float(number_float_t f, const string_t&) { return add(Value::number(f)); }
  bool string(string_t& s) { return add(Value::string(std::move(s))); }
  bool binary(binary_t&) { return fail_with("binary values are not JSON"); }
  bool key(string_t& k) {
    key_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t) { return open(Value::dict(std::make_shared<Dict>())); }
  bool start_array(std::size_t) { return open(Value::list(std::vector<Value>{})); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    return fail_with(std::string("invalid JSON: ") + e.what());
  }

  std::optional<Value> root;
  std::string error;

 private:
  struct Open {
    Value container;
    std::string key;  // the key this container goes under in its parent dict
  };

  bool fail_with(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }
  bool add(Value v) {
    if (stack_.empty()) {
      root = std::move(v);
      return true;
    }
    Value& top = stack_.back().container;
    int depth = nesting_of(v) + 1;
    if (top.is_dict()) {
      top.dict().depth = std::max(top.dict().depth, depth);
      top.dict().items.emplace_back(Value::string(std::move(key_)), std::move(v));
    } else {
      top.list().depth = std::max(top.list().depth, depth);
      top.list().items.push_back(std::move(v));
    }
    return true;
  }
  bool open(Value container) {
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) {
      return fail_with("JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    stack_.push_back(Open{std::move(container), std::move(key_)});
    return true;
  }
  bool close() {
    Open top = std::move(stack_.back());
    stack_.pop_back();
    key_ = std::move(top.key);
    return add(std::move(top.container));
  }

  std::vector<Open> stack_;
  std::string key_;
};

}  // namespace

Result<Value> parse_json(std::string_view text) {
  SaxBuilder sax;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text, &sax, nlohmann::json::input_format_t::json, true);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("invalid JSON: ") + e.what());
  }
  if (!ok || !sax.root) return invalid_argument(sax.error.empty() ? "invalid JSON" : sax.error);
  return std::move(*sax.root);
}

namespace {

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  auto escape_u = [&out](uint32_t cp) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\u%04x", cp & 0xffffu);
    out += buf;
  };
  for (uint32_t cp : utf8_decode(s)) {
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp < 0x20) {
      escape_u(cp);
    } else if (ensure_ascii && cp > 0x7e) {
      if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        escape_u(0xd800 | (v >> 10));
        escape_u(0xdc00 | (v & 0x3ff));
      } else {
        escape_u(cp);
      }
    } else {
      utf8_append(out, cp);
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return float_repr(d);
}

class JsonWriter {
 public:
  JsonWriter(const JsonOptions& o, std::string& out) : o_(o), out_(out) {}

  void write(const Value& v, int depth) {
    if (depth > kMaxDepth) fail("maximum recursion depth exceeded in tojson");
    check_string_size(out_.size());
    switch (v.kind()) {
      case Kind::kNone:
        out_ += "null";
        return;
      case Kind::kBool:
        out_ += v.as_bool() ? "true" : "false";
        return;
      case Kind::kInt:
        out_ += std::to_string(v.as_int());
        return;
      case Kind::kFloat:
        out_ += json_float(v.as_double());
        return;
      case Kind::kString:
        append_json_string(out_, v.str(), o_.ensure_ascii);
        return;
      case Kind::kList:
      case Kind::kTuple:
        write_list(v.list().items, depth);
        return;
      case Kind::kDict:
        write_dict(v.dict(), depth);
        return;
      default:
        fail("Object of type " + v.type_name() + " is not JSON serializable");
    }
  }

 private:
  void newline(int depth) {
    if (!o_.indent) return;
    out_ += '\n';
    for (int i = 0; i < depth; ++i) out_ += *o_.indent;
  }
  void write_list(const std::vector<Value>& items, int depth) {
    if (items.empty()) {
      out_ += "[]";
      return;
    }
    out_ += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out_ += o_.item_separator;
      newline(depth + 1);
      write(items[i], depth + 1);
    }
    newline(depth);
    out_ += ']';
  }
  static std::string key_text(const Value& k) {
    switch (k.kind()) {
      case Kind::kString:
        return k.str();
      case Kind::kNone:
        return "null";
      case Kind::kBool:
        return k.as_bool() ? "true" : "false";
      case Kind::kInt:
        return std::to_string(k.as_int());
      case Kind::kFloat:
        return json_float(k.as_double());
      default:
        fail("keys must be str, int, float, bool or None, not " + k.type_name());
    }
  }
  void write_dict(const Dict& d, int depth) {
    if (d.items.empty()) {
      out_ += "{}";
      return;
    }
    std::vector<const std::pair<Value, Value>*> items;
    for (const auto& kv : d.items) items.push_back(&kv);
    if (o_.sort_keys) {
      std::stable_sort(items.begin(), items.end(), [](const auto* a, const auto* b) {
        return py_compare(a->first, b->first) < 0;
      });
    }
    out_ += '{';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out_ += o_.item_separator;
      newline(depth + 1);
      append_json_string(out_, key_text(items[i]->first), o_.ensure_ascii);
      out_ += o_.key_separator;
      write(items[i]->second, depth + 1);
    }
    newline(depth);
    out_ += '}';
  }

  const JsonOptions& o_;
  std::string& out_;
};

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  JsonWriter(options, out).write(v, 0);
  return out;
}

}  // namespace rs::engine::jinja
