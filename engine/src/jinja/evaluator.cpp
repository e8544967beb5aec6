// Statement execution: output, if, for (filter, else, loop variable, recursion), set and
// block set, macros and call blocks, filter blocks, scopes; the step/depth/output limits.
#include "evaluator.h"

#include <algorithm>

#include "builtins.h"
#include "py_str.h"

namespace rs::engine::jinja {

namespace {

// Swaps the output buffer and the innermost frame for the life of a nested body.
class ScopeSwap {
 public:
  ScopeSwap(std::string*& out, std::string* new_out, FramePtr& frame, FramePtr new_frame)
      : out_(out), saved_out_(out), frame_(frame), saved_frame_(std::move(frame)) {
    out_ = new_out;
    frame_ = std::move(new_frame);
  }
  ~ScopeSwap() {
    out_ = saved_out_;
    frame_ = std::move(saved_frame_);
  }
  ScopeSwap(const ScopeSwap&) = delete;
  ScopeSwap& operator=(const ScopeSwap&) = delete;

 private:
  std::string*& out_;
  std::string* saved_out_;
  FramePtr& frame_;
  FramePtr saved_frame_;
};

class DepthCount {
 public:
  DepthCount(int& depth, int limit) : depth_(depth) {
    if (++depth_ > limit) {
      --depth_;
      fail("maximum recursion depth exceeded (limit " + std::to_string(limit) + " nested calls)");
    }
  }
  ~DepthCount() { --depth_; }
  DepthCount(const DepthCount&) = delete;
  DepthCount& operator=(const DepthCount&) = delete;

 private:
  int& depth_;
};

FramePtr child_of(const FramePtr& parent) {
  auto f = std::make_shared<Frame>();
  f->parent = parent;
  return f;
}

}  // namespace

Evaluator::Evaluator(const Program& program, Limits limits, int64_t now_unix_ms)
    : prog_(program), limits_(limits), now_ms_(now_unix_ms) {}

std::string Evaluator::render(FramePtr globals) {
  struct Release {  // also when the render fails
    Evaluator& ev;
    ~Release() {
      for (auto& o : ev.tracked_) o->release();
      ev.tracked_.clear();
      ev.out_ = nullptr;
      ev.frame_.reset();
    }
  } release{*this};
  std::string out;
  out.reserve(4096);
  out_ = &out;
  frame_ = std::move(globals);
  exec(prog_.body);
  return out;
}

void Evaluator::step(int64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps) {
    fail("template exceeded " + std::to_string(limits_.max_steps) + " steps (runaway loop?)");
  }
}

void Evaluator::write(std::string_view s) {
  if (out_->size() + s.size() > limits_.max_output) {
    fail("template output exceeds " + std::to_string(limits_.max_output) + " bytes");
  }
  out_->append(s);
}

Evaluator::Flow Evaluator::exec(const Body& body) {
  NestingGuard guard(*this);
  for (const auto& s : body) {
    Flow f = exec_stmt(*s);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Evaluator::Flow Evaluator::exec_stmt(const Stmt& s) {
  step();
  Flow flow = Flow::kNormal;
  switch (s.kind) {
    case StmtKind::kData:
      write(s.text);
      break;
    case StmtKind::kPrint: {
      Value v = eval(*s.expr);
      if (v.is_string()) {
        write(v.str());
      } else {
        write(py_str(v));
      }
      break;
    }
    case StmtKind::kIf:
      exec_if(s, flow);
      break;
    case StmtKind::kFor:
      exec_for(s, eval(*s.expr), 1);
      break;
    case StmtKind::kSet:
    case StmtKind::kSetBlock:
      exec_set(s);
      break;
    case StmtKind::kMacro: {
      auto macro = std::make_shared<MacroObj>(s.macro.get(), frame_);
      track(macro);
      frame_->set(s.macro->name_id, Value::object(std::move(macro)));
      break;
    }
    case StmtKind::kCallBlock:
      exec_call_block(s);
      break;
    case StmtKind::kFilterBlock: {
      Value v = apply_filter_chain(*s.expr, Value::string(capture(s.body)));
      write(py_str(v));
      break;
    }
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
    case StmtKind::kScope:
      write(capture(s.body));
      break;
    case StmtKind::kWith:
      flow = exec_with(s);
      break;
  }
  return flow;
}

// {% with a = x %}: the values are evaluated outside, bound in a new scope for the body.
Evaluator::Flow Evaluator::exec_with(const Stmt& s) {
  FramePtr f = child_of(frame_);
  for (const auto& [target, expr] : s.assigns) {
    Value v = eval(*expr);
    ScopeSwap bind(out_, out_, frame_, f);
    assign(target, std::move(v));
  }
  ScopeSwap swap(out_, out_, frame_, f);
  return exec(s.body);
}

void Evaluator::exec_if(const Stmt& s, Flow& flow) {
  for (const auto& br : s.branches) {
    if (eval(*br.cond).truthy()) {
      flow = exec(br.body);
      return;
    }
  }
  flow = exec(s.else_body);
}

void Evaluator::exec_for(const Stmt& s, const Value& iterable, int depth) {
  if (iterable.is_none() || iterable.is_number() || iterable.is_object()) {
    fail("'" + iterable.type_name() + "' object is not iterable");
  }
  std::vector<Value> items = py_iterate(iterable);
  FramePtr outer = frame_;
  FramePtr frame = child_of(frame_);
  ScopeSwap swap(out_, out_, frame_, frame);
  if (s.cond) {  // the loop filter sees the target, not `loop`
    std::vector<Value> kept;
    for (auto& item : items) {
      step();
      frame->vars.clear();
      assign(s.target, item);
      if (eval(*s.cond).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    exec(s.else_body);
    return;
  }
  auto loop = std::make_shared<LoopObj>(std::move(items), depth, &s, outer);
  Value loop_value = Value::object(loop);
  const std::vector<Value>& seq = loop->items();
  for (size_t i = 0; i < seq.size(); ++i) {
    step();
    frame->vars.clear();
    loop->set_index(i);
    frame->vars.emplace_back(prog_.id_loop, loop_value);
    assign(s.target, seq[i]);
    if (exec(s.body) == Flow::kBreak) break;
  }
}

Value Evaluator::recurse_loop(const Stmt& loop_stmt, const Value& iterable, int depth,
                              const FramePtr& scope) {
  DepthCount guard(call_depth_, limits_.max_call_depth);
  std::string buf;
  ScopeSwap swap(out_, &buf, frame_, scope);
  exec_for(loop_stmt, iterable, depth);
  return Value::string(std::move(buf));
}

void Evaluator::assign(const Target& t, Value v) {
  switch (t.kind) {
    case Target::Kind::kName:
      frame_->set(t.ids[0], std::move(v));
      return;
    case Target::Kind::kTuple: {
      std::vector<Value> parts = unpack(v, t.ids.size());
      for (size_t i = 0; i < parts.size(); ++i) frame_->set(t.ids[i], std::move(parts[i]));
      return;
    }
    case Target::Kind::kAttr: {
      Value* ns = nullptr;
      for (Frame* f = frame_.get(); f != nullptr && ns == nullptr; f = f->parent.get())
        ns = f->find(t.ids[0]);
      if (ns == nullptr || !ns->is_object() || !ns->object().is_namespace()) {
        fail("cannot assign attribute on non-namespace object");
      }
      ns->object().set_attr(t.attr, std::move(v));
      return;
    }
  }
}

void Evaluator::exec_set(const Stmt& s) {
  Value v;
  if (s.kind == StmtKind::kSet) {
    v = eval(*s.expr);
  } else {
    v = Value::string(capture(s.body));
    if (s.expr) v = apply_filter_chain(*s.expr, std::move(v));
  }
  assign(s.target, std::move(v));
}

std::string Evaluator::capture(const Body& body) {
  std::string buf;
  ScopeSwap swap(out_, &buf, frame_, child_of(frame_));
  exec(body);
  return buf;
}

// A chain of filters whose innermost operand is the block's output (args[0] == null).
Value Evaluator::apply_filter_chain(const Expr& chain, Value input) {
  Value operand =
      chain.args[0] ? apply_filter_chain(*chain.args[0], std::move(input)) : std::move(input);
  if (chain.filter == nullptr) fail("No filter named '" + chain.name + "' found.");
  CallArgs args = eval_args(chain, 1);
  return chain.filter(*this, operand, args);
}

void Evaluator::exec_call_block(const Stmt& s) {
  const Expr& call = *s.expr;
  Value callee = eval(*call.args[0]);
  CallArgs args = eval_args(call, 1);
  auto caller = std::make_shared<MacroObj>(s.macro.get(), frame_);
  track(caller);
  args.kw.emplace_back("caller", Value::object(std::move(caller)));
  Value v = this->call(callee, args);
  write(py_str(v));
}

// A new scope for a macro call: parameters from positional and keyword arguments, then
// defaults (evaluated in that scope, so they see the earlier parameters), caller, varargs
// and kwargs when the body uses them.
FramePtr Evaluator::bind_macro_args(const MacroDef& m, const FramePtr& closure, CallArgs& args) {
  FramePtr frame = child_of(closure);
  size_t n = m.params.size();
  if (args.pos.size() > n && !m.uses_varargs) {
    fail("macro '" + m.name + "' takes not more than " + std::to_string(n) + " argument(s)");
  }
  std::vector<bool> bound(n, false);
  for (size_t i = 0; i < n && i < args.pos.size(); ++i) {
    frame->vars.emplace_back(m.params[i], args.pos[i]);
    bound[i] = true;
  }
  auto extra_kw = std::make_shared<Dict>();
  Value caller = Value::undefined("No caller defined");
  for (auto& [key, val] : args.kw) {
    size_t i = 0;
    while (i < n && m.param_names[i] != key) ++i;
    if (i < n) {
      if (bound[i]) fail("macro '" + m.name + "' got multiple values for argument '" + key + "'");
      frame->vars.emplace_back(m.params[i], val);
      bound[i] = true;
    } else if (key == "caller" && m.uses_caller) {
      caller = val;
    } else if (m.uses_kwargs) {
      extra_kw->set(Value::string(key), val);
    } else {
      fail("macro '" + m.name + "' takes no keyword argument '" + key + "'");
    }
  }
  ScopeSwap in_frame(out_, out_, frame_, frame);
  size_t first_default = n - m.defaults.size();
  for (size_t i = 0; i < n; ++i) {
    if (bound[i]) continue;
    frame->vars.emplace_back(m.params[i],
                             i >= first_default
                                 ? eval(*m.defaults[i - first_default])
                                 : Value::undefined("'" + m.param_names[i] + "' is undefined"));
  }
  if (m.uses_caller) frame->vars.emplace_back(prog_.id_caller, caller);
  if (m.uses_varargs) {
    auto first_extra = static_cast<std::ptrdiff_t>(std::min(n, args.pos.size()));
    frame->vars.emplace_back(prog_.id_varargs,
                             Value::tuple({args.pos.begin() + first_extra, args.pos.end()}));
  }
  if (m.uses_kwargs) frame->vars.emplace_back(prog_.id_kwargs, Value::dict(extra_kw));
  return frame;
}

Value Evaluator::call_macro(const MacroDef& m, const FramePtr& closure, CallArgs& args) {
  DepthCount guard(call_depth_, limits_.max_call_depth);
  step();
  FramePtr frame = bind_macro_args(m, closure, args);
  std::string buf;
  ScopeSwap swap_out(out_, &buf, frame_, frame);
  exec(m.body);
  return Value::string(std::move(buf));
}

}  // namespace rs::engine::jinja
