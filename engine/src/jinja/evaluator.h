// Evaluator: one rendering of a Program. Holds the scope frames, the output buffer and the
// limits (steps, recursion depth, output size). Created per render call on the calling
// thread and used by that thread only; the Program it reads is shared and immutable.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ast.h"
#include "value.h"

namespace rs::engine::jinja {

struct Limits {
  int64_t max_steps = 10'000'000;  // statements, loop iterations, filter element visits
  int max_call_depth = kMaxDepth;  // macro / recursive loop / caller nesting
  int max_nesting = 2048;          // bodies and expressions being evaluated, all together
  size_t max_output = 16u << 20;   // bytes of any output buffer
};

struct Frame;
using FramePtr = std::shared_ptr<Frame>;

// A scope: loop bodies, macros and blocks get one; if does not.
struct Frame {
  std::vector<std::pair<int, Value>> vars;
  FramePtr parent;
  Value* find(int id) {
    for (auto& kv : vars) {
      if (kv.first == id) return &kv.second;
    }
    return nullptr;
  }
  void set(int id, Value v) {
    if (Value* slot = find(id)) {
      *slot = std::move(v);
    } else {
      vars.emplace_back(id, std::move(v));
    }
  }
};

class Evaluator {
 public:
  Evaluator(const Program& program, Limits limits, int64_t now_unix_ms);

  // Renders the whole template with `globals` as the outermost scope. Throws RenderError.
  std::string render(FramePtr globals);

  // For filters, tests, methods and objects.
  Value eval(const Expr& e);
  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(std::string_view name, const Value& input, CallArgs& args);
  bool apply_test(std::string_view name, const Value& input, CallArgs& args);
  Value get_attr(const Value& obj, std::string_view name);
  Value get_item(const Value& obj, const Value& key);
  void step(int64_t n = 1);
  int64_t now_unix_ms() const { return now_ms_; }
  // Objects that may end up in a reference cycle (namespaces): released after the render.
  void track(ObjectPtr o) { tracked_.push_back(std::move(o)); }
  const Program& program() const { return prog_; }

  // Calls a macro (or a call block's caller) defined with `closure` as its scope.
  Value call_macro(const MacroDef& m, const FramePtr& closure, CallArgs& args);
  // Runs a recursive loop's body again over `items` (the `loop(...)` call); returns its output.
  Value recurse_loop(const Stmt& loop_stmt, const Value& iterable, int depth,
                     const FramePtr& scope);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  // Counts the C++ recursion of exec/eval (macros re-enter both): fails past max_nesting.
  class NestingGuard {
   public:
    explicit NestingGuard(Evaluator& ev) : ev_(ev) {
      if (++ev_.nesting_ > ev_.limits_.max_nesting) {
        --ev_.nesting_;
        fail("template nesting too deep at run time (limit " +
             std::to_string(ev_.limits_.max_nesting) + ")");
      }
    }
    ~NestingGuard() { --ev_.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    Evaluator& ev_;
  };

  Flow exec(const Body& body);
  Flow exec_stmt(const Stmt& s);
  void exec_if(const Stmt& s, Flow& flow);
  void exec_for(const Stmt& s, const Value& iterable, int depth);
  void exec_set(const Stmt& s);
  Flow exec_with(const Stmt& s);
  FramePtr bind_macro_args(const MacroDef& m, const FramePtr& closure, CallArgs& args);
  void exec_call_block(const Stmt& s);
  void assign(const Target& t, Value v);
  std::string capture(const Body& body);  // renders a body into a string in a new scope
  Value apply_filter_chain(const Expr& chain, Value input);
  void write(std::string_view s);

  // expressions (eval_expr.cpp)
  Value lookup(const Expr& e);
  Value eval_call(const Expr& e);
  Value eval_filter(const Expr& e);
  bool eval_test(const Expr& e);
  Value eval_compare(const Expr& e);
  Value eval_slice(const Expr& e);
  Value eval_literal(const Expr& e);
  Value eval_concat(const Expr& e);
  CallArgs eval_args(const Expr& e, size_t first);

  const Program& prog_;
  Limits limits_;
  int64_t now_ms_;
  std::string* out_ = nullptr;
  FramePtr frame_;
  int call_depth_ = 0;
  int nesting_ = 0;  // bodies and calls being executed (bounds the C++ recursion)
  int64_t steps_ = 0;
  std::vector<ObjectPtr> tracked_;
};

// Python's binary operators and `in` (operators.cpp).
Value binary_op(BinOp op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);
Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step);
// Unpacks an item into `n` values (tuple targets); throws on a length mismatch.
std::vector<Value> unpack(const Value& item, size_t n);

}  // namespace rs::engine::jinja
