// Jinja's tests (`x is defined`, `x is string`, `x is divisibleby 3`...) and their registry,
// with jinja2/tests.py 3.1.2 semantics for Python types.
#include "builtins.h"
#include "py_str.h"
#include "str_ops.h"

namespace rs::engine::jinja {

namespace {

const Value& arg0(CallArgs& args, const char* test) {
  if (args.pos.empty()) {
    if (!args.kw.empty()) return args.kw[0].second;
    fail(std::string(test) + "() missing 1 required positional argument");
  }
  return args.pos[0];
}

bool t_defined(Evaluator&, const Value& v, CallArgs&) {
  return !v.is_undefined();
}
bool t_undefined(Evaluator&, const Value& v, CallArgs&) {
  return v.is_undefined();
}
bool t_none(Evaluator&, const Value& v, CallArgs&) {
  return v.is_none();
}
bool t_boolean(Evaluator&, const Value& v, CallArgs&) {
  return v.is_bool();
}
bool t_false(Evaluator&, const Value& v, CallArgs&) {
  return v.is_bool() && !v.as_bool();
}
bool t_true(Evaluator&, const Value& v, CallArgs&) {
  return v.is_bool() && v.as_bool();
}
bool t_integer(Evaluator&, const Value& v, CallArgs&) {
  return v.is_int();
}
bool t_float(Evaluator&, const Value& v, CallArgs&) {
  return v.is_float();
}
bool t_number(Evaluator&, const Value& v, CallArgs&) {
  return v.is_number();
}
bool t_string(Evaluator&, const Value& v, CallArgs&) {
  return v.is_string();
}
bool t_mapping(Evaluator&, const Value& v, CallArgs&) {
  return v.is_dict();
}
bool t_escaped(Evaluator&, const Value& v, CallArgs&) {
  return v.is_markup();
}

bool t_iterable(Evaluator&, const Value& v, CallArgs&) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kString:
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kGenerator:
    case Kind::kDict:
      return true;
    default:
      return false;
  }
}

// len(value) and value.__getitem__ both exist.
bool t_sequence(Evaluator&, const Value& v, CallArgs&) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kString:
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kDict:
      return true;
    default:
      return false;
  }
}

bool t_callable(Evaluator&, const Value& v, CallArgs&) {
  return v.is_object() && v.object().callable();
}

int64_t int_of(const Value& v) {
  if (v.is_undefined()) fail(v.undefined_message());
  if (!v.is_int() && !v.is_bool())
    fail("unsupported operand type(s) for %: '" + v.type_name() + "' and 'int'");
  return v.as_int();
}

bool t_odd(Evaluator&, const Value& v, CallArgs&) {
  return (int_of(v) % 2) != 0;
}
bool t_even(Evaluator&, const Value& v, CallArgs&) {
  return (int_of(v) % 2) == 0;
}

bool t_divisibleby(Evaluator&, const Value& v, CallArgs& args) {
  Value r = binary_op(BinOp::kMod, v, arg0(args, "divisibleby"));
  return !r.truthy();
}

bool t_lower(Evaluator&, const Value& v, CallArgs&) {
  return py_is_lower_cased(v.is_string() ? v.str() : py_str(v), false);
}
bool t_upper(Evaluator&, const Value& v, CallArgs&) {
  return py_is_lower_cased(v.is_string() ? v.str() : py_str(v), true);
}

bool t_eq(Evaluator&, const Value& v, CallArgs& args) {
  return py_equal(v, arg0(args, "eq"));
}
bool t_ne(Evaluator&, const Value& v, CallArgs& args) {
  return !py_equal(v, arg0(args, "ne"));
}
bool t_lt(Evaluator&, const Value& v, CallArgs& args) {
  return py_compare(v, arg0(args, "lt")) < 0;
}
bool t_le(Evaluator&, const Value& v, CallArgs& args) {
  return py_compare(v, arg0(args, "le")) <= 0;
}
bool t_gt(Evaluator&, const Value& v, CallArgs& args) {
  return py_compare(v, arg0(args, "gt")) > 0;
}
bool t_ge(Evaluator&, const Value& v, CallArgs& args) {
  return py_compare(v, arg0(args, "ge")) >= 0;
}
bool t_in(Evaluator&, const Value& v, CallArgs& args) {
  return contains(arg0(args, "in"), v);
}

bool t_sameas(Evaluator&, const Value& v, CallArgs& args) {
  const Value& o = arg0(args, "sameas");
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Kind::kNone:
    case Kind::kUndefined:
      return true;
    case Kind::kBool:
      return v.as_bool() == o.as_bool();
    case Kind::kInt:
      return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kGenerator:
      return v.list_ptr() == o.list_ptr();
    case Kind::kDict:
      return &v.dict() == &o.dict();
    case Kind::kObject:
      return v.object_ptr() == o.object_ptr();
    case Kind::kString:
      return v.str_ptr() == o.str_ptr();
    default:
      return false;
  }
}

bool t_filter(Evaluator&, const Value& v, CallArgs&) {
  return v.is_string() && find_filter(v.str()) != nullptr;
}
bool t_test(Evaluator&, const Value& v, CallArgs&) {
  return v.is_string() && find_test(v.str()) != nullptr;
}

struct TestEntry {
  std::string_view name;
  TestFn fn;
};

const TestEntry kTests[] = {
    {"!=", t_ne},
    {"<", t_lt},
    {"<=", t_le},
    {"==", t_eq},
    {">", t_gt},
    {">=", t_ge},
    {"boolean", t_boolean},
    {"callable", t_callable},
    {"defined", t_defined},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"escaped", t_escaped},
    {"even", t_even},
    {"false", t_false},
    {"filter", t_filter},
    {"float", t_float},
    {"ge", t_ge},
    {"greaterthan", t_gt},
    {"gt", t_gt},
    {"in", t_in},
    {"integer", t_integer},
    {"iterable", t_iterable},
    {"le", t_le},
    {"lessthan", t_lt},
    {"lower", t_lower},
    {"lt", t_lt},
    {"mapping", t_mapping},
    {"ne", t_ne},
    {"none", t_none},
    {"number", t_number},
    {"odd", t_odd},
    {"sameas", t_sameas},
    {"sequence", t_sequence},
    {"string", t_string},
    {"test", t_test},
    {"true", t_true},
    {"undefined", t_undefined},
    {"upper", t_upper},
};

}  // namespace

TestFn find_test(std::string_view name) {
  for (const auto& t : kTests) {
    if (t.name == name) return t.fn;
  }
  return nullptr;
}

}  // namespace rs::engine::jinja
