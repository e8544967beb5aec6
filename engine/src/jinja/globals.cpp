// Global functions (range, namespace, dict, raise_exception, strftime_now), the namespace and
// loop objects, and Python-style argument binding.
#include <locale.h>

#include <ctime>

#include "builtins.h"
#include "py_str.h"

namespace rs::engine::jinja {

ArgBinder::ArgBinder(std::string_view fn, CallArgs& args, std::initializer_list<const char*> params)
    : vals_(params.size()), set_(params.size(), false) {
  if (args.pos.size() > params.size()) {
    fail(std::string(fn) + "() takes at most " + std::to_string(params.size()) + " argument(s) (" +
         std::to_string(args.pos.size()) + " given)");
  }
  for (size_t i = 0; i < args.pos.size(); ++i) {
    vals_[i] = args.pos[i];
    set_[i] = true;
  }
  for (auto& [key, val] : args.kw) {
    size_t i = 0;
    for (const char* p : params) {
      if (key == p) break;
      ++i;
    }
    if (i == params.size())
      fail(std::string(fn) + "() got an unexpected keyword argument '" + key + "'");
    if (set_[i]) fail(std::string(fn) + "() got multiple values for argument '" + key + "'");
    vals_[i] = val;
    set_[i] = true;
  }
}

std::string Namespace::repr() const {
  return "<Namespace " + py_repr(Value::dict(std::make_shared<Dict>(attrs_))) + ">";
}

bool Namespace::get_attr(std::string_view name, Value& out) const {
  const Value* v = attrs_.find(name);
  if (v == nullptr) return false;
  out = *v;
  return true;
}

bool Namespace::set_attr(std::string_view name, Value value) {
  attrs_.set(Value::string(std::string(name)), std::move(value));
  return true;
}

std::string LoopObj::repr() const {
  return "<LoopContext " + std::to_string(index_ + 1) + "/" + std::to_string(items_.size()) + ">";
}

bool LoopObj::get_attr(std::string_view name, Value& out) const {
  auto n = static_cast<int64_t>(items_.size());
  auto i = static_cast<int64_t>(index_);
  if (name == "index") {
    out = Value::integer(i + 1);
  } else if (name == "index0") {
    out = Value::integer(i);
  } else if (name == "revindex") {
    out = Value::integer(n - i);
  } else if (name == "revindex0") {
    out = Value::integer(n - i - 1);
  } else if (name == "first") {
    out = Value::boolean(i == 0);
  } else if (name == "last") {
    out = Value::boolean(i == n - 1);
  } else if (name == "length") {
    out = Value::integer(n);
  } else if (name == "depth") {
    out = Value::integer(depth_);
  } else if (name == "depth0") {
    out = Value::integer(depth_ - 1);
  } else if (name == "previtem") {
    out = i > 0 ? items_[index_ - 1] : Value::undefined("there is no previous item");
  } else if (name == "nextitem") {
    out = i + 1 < n ? items_[index_ + 1] : Value::undefined("there is no next item");
  } else if (name == "cycle") {
    size_t idx = index_;
    out = Value::object(std::make_shared<NativeFn>("cycle", [idx](Evaluator&, CallArgs& args) {
      if (args.pos.empty()) fail("no items for cycling given");
      return args.pos[idx % args.pos.size()];
    }));
  } else if (name == "changed") {
    auto last = last_changed_;
    if (!last)
      last = last_changed_ = std::make_shared<Value>(Value::undefined("no previous value"));
    out = Value::object(std::make_shared<NativeFn>("changed", [last](Evaluator&, CallArgs& args) {
      Value now = Value::tuple(args.pos);
      if (!last->is_undefined() && py_equal(*last, now)) return Value::boolean(false);
      *last = now;
      return Value::boolean(true);
    }));
  } else {
    return false;
  }
  return true;
}

Value LoopObj::call(Evaluator& ev, CallArgs& args) {
  if (!stmt_->recursive)
    fail("Tried to call non recursive loop.  Maybe you forgot the 'recursive' modifier.");
  if (args.pos.size() != 1 || !args.kw.empty()) fail("loop() takes exactly one argument");
  return ev.recurse_loop(*stmt_, args.pos[0], depth_ + 1, scope_);
}

namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

Value range_fn(Evaluator& ev, CallArgs& args) {
  if (!args.kw.empty()) fail("range() takes no keyword arguments");
  if (args.pos.empty() || args.pos.size() > 3) fail("range expected at most 3 arguments");
  for (const auto& a : args.pos) {
    if (!a.is_int() && !a.is_bool())
      fail("'" + a.type_name() + "' object cannot be interpreted as an integer");
  }
  int64_t start = 0, stop, step = 1;
  if (args.pos.size() == 1) {
    stop = args.pos[0].as_int();
  } else {
    start = args.pos[0].as_int();
    stop = args.pos[1].as_int();
    if (args.pos.size() == 3) step = args.pos[2].as_int();
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(items.size()) >= kMaxRange) {
      fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    items.push_back(Value::integer(i));
  }
  ev.step(static_cast<int64_t>(items.size()));
  return Value::list(std::move(items));
}

void merge_mapping(Dict& into, CallArgs& args, const char* fn) {
  if (args.pos.size() > 1) fail(std::string(fn) + " expected at most 1 argument");
  if (!args.pos.empty()) {
    const Value& src = args.pos[0];
    if (src.is_dict()) {
      for (const auto& [k, v] : src.dict().items) into.set(k, v);
    } else if (src.is_list() || src.is_tuple()) {
      for (const auto& pair : src.list().items) {
        std::vector<Value> kv = unpack(pair, 2);
        into.set(kv[0], kv[1]);
      }
    } else {
      fail("'" + src.type_name() + "' object is not iterable");
    }
  }
  for (auto& [k, v] : args.kw) into.set(Value::string(k), v);
}

Value namespace_fn(Evaluator& ev, CallArgs& args) {
  auto ns = std::make_shared<Namespace>();
  ev.track(ns);
  merge_mapping(ns->attrs(), args, "namespace");
  return Value::object(ns);
}

Value dict_fn(Evaluator&, CallArgs& args) {
  auto d = std::make_shared<Dict>();
  merge_mapping(*d, args, "dict");
  return Value::dict(d);
}

Value raise_exception_fn(Evaluator&, CallArgs& args) {
  ArgBinder b("raise_exception", args, {"message"});
  fail(b.has(0) ? py_str(b.get(0))
                : std::string("raise_exception() missing 1 required positional argument"));
}

Value strftime_now_fn(Evaluator& ev, CallArgs& args) {
  ArgBinder b("strftime_now", args, {"format"});
  if (!b.has(0) || !b.get(0).is_string()) fail("strftime_now() argument must be str");
  std::time_t secs = static_cast<std::time_t>(ev.now_unix_ms() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const std::string& fmt = b.get(0).str();
  if (fmt.empty()) return Value::string("");
  std::string buf(fmt.size() * 8 + 64, '\0');
  // Python formats in the C locale here (transformers never calls setlocale): do so whatever
  // the process locale is.
  static const locale_t kCLocale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  size_t n = kCLocale != static_cast<locale_t>(nullptr)
                 ? strftime_l(buf.data(), buf.size(), fmt.c_str(), &tm, kCLocale)
                 : std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
  buf.resize(n);
  return Value::string(std::move(buf));
}

Value make_fn(const char* name, Value (*fn)(Evaluator&, CallArgs&)) {
  return Value::object(std::make_shared<NativeFn>(name, fn));
}

}  // namespace

Value builtin_global(std::string_view name) {
  static const Value kRange = make_fn("range", range_fn);
  static const Value kNamespace = make_fn("namespace", namespace_fn);
  static const Value kDictFn = make_fn("dict", dict_fn);
  static const Value kRaise = make_fn("raise_exception", raise_exception_fn);
  static const Value kStrftime = make_fn("strftime_now", strftime_now_fn);
  if (name == "range") return kRange;
  if (name == "namespace") return kNamespace;
  if (name == "dict") return kDictFn;
  if (name == "raise_exception") return kRaise;
  if (name == "strftime_now") return kStrftime;
  return Value::undefined("");
}

}  // namespace rs::engine::jinja
