// Value construction, truthiness, Python equality/ordering, len and iteration.
#include "value.h"

#include <algorithm>
#include <cmath>

#include "py_str.h"

namespace rs::engine::jinja {

void fail(std::string message) {
  throw RenderError{std::move(message)};
}

Value Value::undefined(std::string message) {
  Value v;
  v.kind_ = Kind::kUndefined;
  v.ptr_ = std::make_shared<const std::string>(std::move(message));
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}
Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = f;
  return v;
}
Value Value::string(std::string s, bool markup) {
  return string(std::make_shared<const std::string>(std::move(s)), markup);
}
Value Value::string(StrPtr s, bool markup) {
  Value v;
  v.kind_ = Kind::kString;
  v.markup_ = markup;
  v.ptr_ = std::move(s);
  return v;
}
Value Value::list(ListPtr l) {
  Value v;
  v.kind_ = Kind::kList;
  v.ptr_ = std::move(l);
  return v;
}
Value Value::list(std::vector<Value> items) {
  auto l = std::make_shared<List>();
  int deepest = 0;
  for (const auto& v : items) deepest = std::max(deepest, nesting_of(v));
  l->depth = deepest + 1;
  if (l->depth > kMaxValueDepth)
    fail("value nested deeper than " + std::to_string(kMaxValueDepth) + " levels");
  l->items = std::move(items);
  return list(std::move(l));
}
Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}
Value Value::generator(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::kGenerator;
  return v;
}
Value Value::dict(DictPtr d) {
  Value v;
  v.kind_ = Kind::kDict;
  v.ptr_ = std::move(d);
  return v;
}
Value Value::object(ObjectPtr o) {
  Value v;
  v.kind_ = Kind::kObject;
  v.ptr_ = std::move(o);
  return v;
}

double Value::as_double() const {
  if (kind_ == Kind::kFloat) return f_;
  return static_cast<double>(as_int());
}

Value Value::with_markup(bool markup) const {
  Value v = *this;
  v.markup_ = markup && kind_ == Kind::kString;
  return v;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return b_;
    case Kind::kInt:
      return i_ != 0;
    case Kind::kFloat:
      return f_ != 0.0;
    case Kind::kString:
      return !str().empty();
    case Kind::kList:
    case Kind::kTuple:
      return !list().items.empty();
    case Kind::kDict:
      return !dict().items.empty();
    case Kind::kGenerator:
    case Kind::kObject:
      return true;
  }
  return true;
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return markup_ ? "Markup" : "str";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kGenerator:
      return "generator";
    case Kind::kDict:
      return "dict";
    case Kind::kObject:
      return object().type_name();
  }
  return "object";
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k.is_string() && k.str() == key) return &v;
  }
  return nullptr;
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.str()));
  for (const auto& [k, v] : items) {
    if (py_equal(k, key)) return &v;
  }
  return nullptr;
}

void Dict::note_child(const Value& v) {
  depth = std::max(depth, nesting_of(v) + 1);
  if (depth > kMaxValueDepth)
    fail("value nested deeper than " + std::to_string(kMaxValueDepth) + " levels");
}

void Dict::set(Value key, Value value) {
  note_child(value);
  for (auto& [k, v] : items) {
    if (py_equal(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

int nesting_of(const Value& v) {
  switch (v.kind()) {
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kGenerator:
      return v.list().depth;
    case Kind::kDict:
      return v.dict().depth;
    case Kind::kObject:
      if (const Dict* d = v.object().as_namespace_dict()) return d->depth;
      return 0;
    default:
      return 0;
  }
}

namespace {

void check_depth(int depth) {
  if (depth > kMaxDepth) fail("maximum recursion depth exceeded while comparing");
}

bool dict_equal(const Dict& a, const Dict& b, int depth) {
  if (a.items.size() != b.items.size()) return false;
  for (const auto& [k, v] : a.items) {
    const Value* other = b.find(k);
    if (other == nullptr || !py_equal(v, *other, depth + 1)) return false;
  }
  return true;
}

}  // namespace

bool py_equal(const Value& a, const Value& b, int depth) {
  check_depth(depth);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.str() == b.str();
    case Kind::kList:
    case Kind::kTuple: {
      const auto& x = a.list().items;
      const auto& y = b.list().items;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!py_equal(x[i], y[i], depth + 1)) return false;
      }
      return true;
    }
    case Kind::kDict:
      return dict_equal(a.dict(), b.dict(), depth);
    case Kind::kGenerator:
      return a.list_ptr() == b.list_ptr();
    case Kind::kObject:
      return a.object_ptr() == b.object_ptr();
    default:
      return false;
  }
}

int py_compare(const Value& a, const Value& b, int depth) {
  check_depth(depth);
  if (a.is_undefined() || b.is_undefined()) {
    fail(a.is_undefined() ? a.undefined_message() : b.undefined_message());
  }
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());  // UTF-8 byte order == code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.kind() == b.kind() && (a.is_list() || a.is_tuple())) {
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!py_equal(x[i], y[i], depth + 1)) return py_compare(x[i], y[i], depth + 1);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  fail("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() +
       "'");
}

int64_t py_len(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return 0;
    case Kind::kString:
      return static_cast<int64_t>(utf8_length(v.str()));
    case Kind::kList:
    case Kind::kTuple:
      return static_cast<int64_t>(v.list().items.size());
    case Kind::kDict:
      return static_cast<int64_t>(v.dict().items.size());
    case Kind::kObject:
      if (const Dict* d = v.object().as_namespace_dict())
        return static_cast<int64_t>(d->items.size());
      break;
    default:
      break;
  }
  fail("object of type '" + v.type_name() + "' has no len()");
}

std::vector<Value> py_iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return {};
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kGenerator:
      return v.list().items;
    case Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().items.size());
      for (const auto& kv : v.dict().items) keys.push_back(kv.first);
      return keys;
    }
    case Kind::kString:
      return utf8_chars(v.str());
    default:
      fail("'" + v.type_name() + "' object is not iterable");
  }
}

}  // namespace rs::engine::jinja
