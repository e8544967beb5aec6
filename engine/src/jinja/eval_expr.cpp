// Expression evaluation: names, literals, attribute/item access (the sandbox's getattr and
// getitem), calls, filters, tests, comparisons, boolean operators, inline if.
#include <cmath>

#include "builtins.h"
#include "evaluator.h"
#include "py_str.h"

namespace rs::engine::jinja {

namespace {

// jinja2.utils.object_type_repr
std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return v.type_name() + " object";
}

Value missing_attr(const Value& obj, std::string_view name) {
  std::string msg = "'";
  msg += object_type_repr(obj);
  msg += "' has no attribute '";
  msg += name;
  msg += '\'';
  return Value::undefined(std::move(msg));
}

Value unsafe_attr(const Value& obj, std::string_view name) {
  return Value::undefined("access to attribute '" + std::string(name) + "' of '" + obj.type_name() +
                          "' object is unsafe.");
}

Value method_or_missing(const Value& obj, std::string_view name) {
  if (name.substr(0, 2) == "__") return unsafe_attr(obj, name);
  switch (method_kind(obj, name)) {
    case MethodKind::kSafe:
      return Value::object(std::make_shared<BoundMethod>(obj, std::string(name)));
    case MethodKind::kUnsafe:
      return unsafe_attr(obj, name);
    case MethodKind::kNone:
      break;
  }
  return missing_attr(obj, name);
}

}  // namespace

Value Evaluator::get_attr(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Kind::kUndefined:
      fail(obj.undefined_message());
    case Kind::kObject: {
      Value out;
      if (obj.object().get_attr(name, out)) return out;
      return missing_attr(obj, name);
    }
    case Kind::kDict: {
      if (name.substr(0, 2) != "__" && method_kind(obj, name) == MethodKind::kNone) {
        if (const Value* v = obj.dict().find(name)) return *v;
      }
      return method_or_missing(obj, name);
    }
    default:
      return method_or_missing(obj, name);
  }
}

Value Evaluator::get_item(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Kind::kUndefined:
      fail(obj.undefined_message());
    case Kind::kDict:
      if (key.is_list() || key.is_dict()) fail("unhashable type: '" + key.type_name() + "'");
      if (const Value* v = obj.dict().find(key)) return *v;
      break;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kString:
      if (key.is_int() || key.is_bool()) {
        int64_t n = obj.is_string() ? static_cast<int64_t>(utf8_length(obj.str()))
                                    : static_cast<int64_t>(obj.list().items.size());
        int64_t i = key.as_int();
        if (i < 0) i += n;
        if (i < 0 || i >= n) break;
        if (!obj.is_string()) return obj.list().items[static_cast<size_t>(i)];
        if (is_ascii(obj.str())) return Value::string(obj.str().substr(static_cast<size_t>(i), 1));
        std::vector<uint32_t> cps = utf8_decode(obj.str());
        return Value::string(utf8_encode(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
      }
      break;
    default:
      break;
  }
  if (key.is_string()) {
    if (obj.is_object()) {
      Value out;
      if (obj.object().get_attr(key.str(), out)) return out;
      return missing_attr(obj, key.str());
    }
    return method_or_missing(obj, key.str());
  }
  return Value::undefined(object_type_repr(obj) + " has no element " + py_repr(key));
}

Value Evaluator::lookup(const Expr& e) {
  for (Frame* f = frame_.get(); f != nullptr; f = f->parent.get()) {
    if (Value* v = f->find(e.name_id)) return *v;
  }
  Value g = builtin_global(e.name);
  if (!g.is_undefined()) return g;
  return Value::undefined("'" + e.name + "' is undefined");
}

CallArgs Evaluator::eval_args(const Expr& e, size_t first) {
  CallArgs args;
  args.pos.reserve(e.args.size() > first ? e.args.size() - first : 0);
  for (size_t i = first; i < e.args.size(); ++i) args.pos.push_back(eval(*e.args[i]));
  for (const auto& [key, expr] : e.kwargs) args.kw.emplace_back(key, eval(*expr));
  return args;
}

Value Evaluator::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail(callee.undefined_message());
  if (callee.is_object() && callee.object().callable()) return callee.object().call(*this, args);
  fail("'" + callee.type_name() + "' object is not callable");
}

Value Evaluator::eval_call(const Expr& e) {
  const Expr& callee_expr = *e.args[0];
  if (callee_expr.kind == ExprKind::kAttr) {
    Value obj = eval(*callee_expr.args[0]);
    if (!obj.is_object() && !obj.is_dict() &&
        method_kind(obj, callee_expr.name) == MethodKind::kSafe) {
      CallArgs args = eval_args(e, 1);
      return call_method(*this, obj, callee_expr.name, args);
    }
    Value callee = get_attr(obj, callee_expr.name);
    CallArgs args = eval_args(e, 1);
    return call(callee, args);
  }
  Value callee = eval(callee_expr);
  CallArgs args = eval_args(e, 1);
  return call(callee, args);
}

Value Evaluator::eval_filter(const Expr& e) {
  Value operand = eval(*e.args[0]);
  CallArgs args = eval_args(e, 1);
  if (e.filter == nullptr) fail("No filter named '" + e.name + "' found.");
  return e.filter(*this, operand, args);
}

bool Evaluator::eval_test(const Expr& e) {
  Value operand = eval(*e.args[0]);
  CallArgs args = eval_args(e, 1);
  if (e.test == nullptr) fail("No test named '" + e.name + "' found.");
  return e.test(*this, operand, args);
}

Value Evaluator::apply_filter(std::string_view name, const Value& input, CallArgs& args) {
  FilterFn f = find_filter(name);
  if (f == nullptr) fail("No filter named '" + std::string(name) + "' found.");
  return f(*this, input, args);
}

bool Evaluator::apply_test(std::string_view name, const Value& input, CallArgs& args) {
  TestFn t = find_test(name);
  if (t == nullptr) fail("No test named '" + std::string(name) + "' found.");
  return t(*this, input, args);
}

Value Evaluator::eval_compare(const Expr& e) {
  Value left = eval(*e.args[0]);
  for (size_t i = 0; i < e.cmp_ops.size(); ++i) {
    Value right = eval(*e.args[i + 1]);
    bool ok = false;
    switch (e.cmp_ops[i]) {
      case CmpOp::kEq:
        ok = py_equal(left, right);
        break;
      case CmpOp::kNe:
        ok = !py_equal(left, right);
        break;
      case CmpOp::kLt:
        ok = py_compare(left, right) < 0;
        break;
      case CmpOp::kLe:
        ok = py_compare(left, right) <= 0;
        break;
      case CmpOp::kGt:
        ok = py_compare(left, right) > 0;
        break;
      case CmpOp::kGe:
        ok = py_compare(left, right) >= 0;
        break;
      case CmpOp::kIn:
        ok = contains(right, left);
        break;
      case CmpOp::kNotIn:
        ok = !contains(right, left);
        break;
    }
    if (!ok) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Evaluator::eval_slice(const Expr& e) {
  if (e.args.size() != 4) fail("slices inside a tuple subscript are not supported");
  Value obj = eval(*e.args[0]);
  auto part = [this, &e](size_t i) { return e.args[i] ? eval(*e.args[i]) : Value::none(); };
  Value start = part(1), stop = part(2), step = part(3);
  return slice_value(obj, start, stop, step);
}

namespace {

Value negate(const Value& v) {
  if (v.is_undefined()) fail(v.undefined_message());
  if (v.is_float()) return Value::number(-v.as_double());
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) fail("integer overflow");
    return Value::integer(-v.as_int());
  }
  fail("bad operand type for unary -: '" + v.type_name() + "'");
}

Value positive(const Value& v) {
  if (v.is_undefined()) fail(v.undefined_message());
  if (v.is_bool()) return Value::integer(v.as_int());
  if (v.is_number()) return v;
  fail("bad operand type for unary +: '" + v.type_name() + "'");
}

}  // namespace

Value Evaluator::eval_literal(const Expr& e) {
  if (e.kind == ExprKind::kDict) {
    auto d = std::make_shared<Dict>();
    for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
      Value k = eval(*e.args[i]);
      if (k.is_list() || k.is_dict()) fail("unhashable type: '" + k.type_name() + "'");
      d->set(std::move(k), eval(*e.args[i + 1]));
    }
    return Value::dict(std::move(d));
  }
  std::vector<Value> items;
  items.reserve(e.args.size());
  for (const auto& a : e.args) items.push_back(eval(*a));
  return e.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
}

// `~`: str() of each operand (an Undefined is ""), never Markup.
Value Evaluator::eval_concat(const Expr& e) {
  std::string s;
  for (const auto& a : e.args) {
    Value v = eval(*a);
    s += v.is_string() ? v.str() : py_str(v);
    check_string_size(s.size());
  }
  return Value::string(std::move(s));
}

Value Evaluator::eval(const Expr& e) {
  NestingGuard guard(*this);
  switch (e.kind) {
    case ExprKind::kConst:
      return e.value;
    case ExprKind::kName:
      return lookup(e);
    case ExprKind::kList:
    case ExprKind::kTuple:
    case ExprKind::kDict:
      return eval_literal(e);
    case ExprKind::kAttr:
      return get_attr(eval(*e.args[0]), e.name);
    case ExprKind::kItem: {
      Value obj = eval(*e.args[0]);
      return get_item(obj, eval(*e.args[1]));
    }
    case ExprKind::kSlice:
      return eval_slice(e);
    case ExprKind::kCall:
      return eval_call(e);
    case ExprKind::kFilter:
      return eval_filter(e);
    case ExprKind::kTest:
      return Value::boolean(eval_test(e));
    case ExprKind::kNeg:
      return negate(eval(*e.args[0]));
    case ExprKind::kPos:
      return positive(eval(*e.args[0]));
    case ExprKind::kNot:
      return Value::boolean(!eval(*e.args[0]).truthy());
    case ExprKind::kBinary: {
      Value a = eval(*e.args[0]);
      return binary_op(e.op, a, eval(*e.args[1]));
    }
    case ExprKind::kConcat:
      return eval_concat(e);
    case ExprKind::kCompare:
      return eval_compare(e);
    case ExprKind::kAnd: {
      Value l = eval(*e.args[0]);
      return l.truthy() ? eval(*e.args[1]) : l;
    }
    case ExprKind::kOr: {
      Value l = eval(*e.args[0]);
      return l.truthy() ? l : eval(*e.args[1]);
    }
    case ExprKind::kCond:
      if (eval(*e.args[1]).truthy()) return eval(*e.args[0]);
      if (e.args[2]) return eval(*e.args[2]);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
  }
  fail("unknown expression");
}

}  // namespace rs::engine::jinja
