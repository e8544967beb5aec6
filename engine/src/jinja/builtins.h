// The environment's callables: filters and tests by name, global functions (range, namespace,
// dict, raise_exception, strftime_now, cycler, joiner), str/list/dict methods under the
// immutable sandbox, and the runtime objects (namespace, macro, loop, bound method).
// Registries are static and read-only (any thread); objects belong to one rendering.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "ast.h"
#include "evaluator.h"
#include "value.h"

namespace rs::engine::jinja {

FilterFn find_filter(std::string_view name);  // null when unknown
TestFn find_test(std::string_view name);      // null when unknown
// A global function, or an Undefined-kind value when `name` is none.
Value builtin_global(std::string_view name);

// Methods of str / list / tuple / dict values.
enum class MethodKind { kNone, kSafe, kUnsafe };
MethodKind method_kind(const Value& obj, std::string_view name);
Value call_method(Evaluator& ev, const Value& obj, std::string_view name, CallArgs& args);

// Binds call arguments to parameter names, Python style. Throws on unknown or repeated ones.
class ArgBinder {
 public:
  ArgBinder(std::string_view fn, CallArgs& args, std::initializer_list<const char*> params);
  bool has(size_t i) const { return set_[i]; }
  const Value& get(size_t i) const { return vals_[i]; }
  Value get_or(size_t i, Value fallback) const { return set_[i] ? vals_[i] : std::move(fallback); }

 private:
  std::vector<Value> vals_;
  std::vector<bool> set_;
};

class NativeFn : public Object {
 public:
  using Fn = std::function<Value(Evaluator&, CallArgs&)>;
  NativeFn(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override { return "<built-in function " + name_ + ">"; }
  bool callable() const override { return true; }
  Value call(Evaluator& ev, CallArgs& args) override { return fn_(ev, args); }

 private:
  std::string name_;
  Fn fn_;
};

class Namespace : public Object {
 public:
  std::string type_name() const override { return "Namespace"; }
  std::string repr() const override;
  bool get_attr(std::string_view name, Value& out) const override;
  bool set_attr(std::string_view name, Value value) override;
  bool is_namespace() const override { return true; }
  const Dict* as_namespace_dict() const override { return &attrs_; }
  void release() override { attrs_.items.clear(); }
  Dict& attrs() { return attrs_; }

 private:
  Dict attrs_;
};

// A macro (or a call block's caller) with the scope it was defined in. That scope usually
// holds the macro too: the evaluator tracks macros and releases them after the render, which
// breaks the reference cycle.
class MacroObj : public Object {
 public:
  MacroObj(const MacroDef* def, FramePtr closure) : def_(def), closure_(std::move(closure)) {}
  std::string type_name() const override { return "Macro"; }
  std::string repr() const override { return "<Macro '" + def_->name + "'>"; }
  bool callable() const override { return true; }
  Value call(Evaluator& ev, CallArgs& args) override {
    if (!closure_) fail("macro '" + def_->name + "' called after the render ended");
    return ev.call_macro(*def_, closure_, args);
  }
  void release() override { closure_.reset(); }

 private:
  const MacroDef* def_;
  FramePtr closure_;
};

class BoundMethod : public Object {
 public:
  BoundMethod(Value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override {
    return "<built-in method " + name_ + " of " + self_.type_name() + " object>";
  }
  bool callable() const override { return true; }
  Value call(Evaluator& ev, CallArgs& args) override { return call_method(ev, self_, name_, args); }

 private:
  Value self_;
  std::string name_;
};

// The `loop` variable of a for loop.
class LoopObj : public Object {
 public:
  LoopObj(std::vector<Value> items, int depth, const Stmt* stmt, FramePtr scope)
      : items_(std::move(items)), depth_(depth), stmt_(stmt), scope_(std::move(scope)) {}
  const std::vector<Value>& items() const { return items_; }
  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override;
  bool get_attr(std::string_view name, Value& out) const override;
  bool callable() const override { return stmt_->recursive; }
  Value call(Evaluator& ev, CallArgs& args) override;
  void set_index(size_t i) { index_ = i; }

 private:
  std::vector<Value> items_;
  size_t index_ = 0;
  int depth_;
  const Stmt* stmt_;
  FramePtr scope_;
  mutable std::shared_ptr<Value> last_changed_;
};

}  // namespace rs::engine::jinja
