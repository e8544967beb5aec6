// Expression grammar (jinja2/parser.py): condexpr > or > and > not > compare > math1 (+ -)
// > concat (~) > math2 (* / // %) > pow > unary (- +, then postfix and filters/tests).
#include <algorithm>
#include <optional>

#include "builtins.h"
#include "parser_impl.h"

namespace rs::engine::jinja {

namespace {
constexpr int kMaxExprDepth = 256;
}

ExprPtr Parser::make(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

// Sets the node's depth from its operands: loops (a + b + c..., x.a.b..., x|f|g...) nest
// nodes without recursing in the parser, yet evaluating them recurses.
ExprPtr Parser::seal(ExprPtr e) {
  int depth = 0;
  for (const auto& a : e->args) depth = std::max(depth, a ? a->depth : 0);
  for (const auto& kw : e->kwargs) depth = std::max(depth, kw.second->depth);
  e->depth = depth + 1;
  if (e->depth > kMaxExprDepth)
    error_at(e->line, "expression nested too deeply (limit " + std::to_string(kMaxExprDepth) + ")");
  return e;
}

ExprPtr Parser::binary(ExprKind kind, ExprPtr a, ExprPtr b, int line) {
  auto e = make(kind, line);
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  return seal(std::move(e));
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  DepthGuard guard(nesting_, cur().line);
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr Parser::parse_condexpr() {
  int line = cur().line;
  ExprPtr expr1 = parse_or();
  while (skip_name("if")) {
    ExprPtr expr2 = parse_or();
    ExprPtr expr3 = skip_name("else") ? parse_condexpr() : nullptr;
    auto e = make(ExprKind::kCond, line);
    e->args.push_back(std::move(expr1));
    e->args.push_back(std::move(expr2));
    e->args.push_back(std::move(expr3));
    expr1 = seal(std::move(e));
    line = cur().line;
  }
  return expr1;
}

ExprPtr Parser::parse_or() {
  int line = cur().line;
  ExprPtr left = parse_and();
  while (skip_name("or")) left = binary(ExprKind::kOr, std::move(left), parse_and(), line);
  return left;
}

ExprPtr Parser::parse_and() {
  int line = cur().line;
  ExprPtr left = parse_not();
  while (skip_name("and")) left = binary(ExprKind::kAnd, std::move(left), parse_not(), line);
  return left;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    int line = cur().line;
    next();
    DepthGuard guard(nesting_, line);
    auto e = make(ExprKind::kNot, line);
    e->args.push_back(parse_not());
    return seal(std::move(e));
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  int line = cur().line;
  ExprPtr expr = parse_math1();
  ExprPtr cmp;
  static const std::pair<const char*, CmpOp> kOps[] = {{"==", CmpOp::kEq}, {"!=", CmpOp::kNe},
                                                       {"<", CmpOp::kLt},  {"<=", CmpOp::kLe},
                                                       {">", CmpOp::kGt},  {">=", CmpOp::kGe}};
  while (true) {
    std::optional<CmpOp> op;
    for (const auto& [text, o] : kOps) {
      if (is_op(text)) op = o;
    }
    if (op) {
      next();
    } else if (skip_name("in")) {
      op = CmpOp::kIn;
    } else if (is_name("not") && look().type == TokType::kName && look().text == "in") {
      next();
      next();
      op = CmpOp::kNotIn;
    } else {
      break;
    }
    if (!cmp) {
      cmp = make(ExprKind::kCompare, line);
      cmp->args.push_back(std::move(expr));
    }
    cmp->cmp_ops.push_back(*op);
    cmp->args.push_back(parse_math1());
  }
  return cmp ? seal(std::move(cmp)) : std::move(expr);
}

ExprPtr Parser::parse_math1() {
  int line = cur().line;
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    BinOp op = is_op("+") ? BinOp::kAdd : BinOp::kSub;
    next();
    left = binary(ExprKind::kBinary, std::move(left), parse_concat(), line);
    left->op = op;
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  int line = cur().line;
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  auto e = make(ExprKind::kConcat, line);
  e->args.push_back(std::move(first));
  while (skip_op("~")) e->args.push_back(parse_math2());
  return seal(std::move(e));
}

ExprPtr Parser::parse_math2() {
  int line = cur().line;
  ExprPtr left = parse_pow();
  while (true) {
    BinOp op;
    if (is_op("*")) {
      op = BinOp::kMul;
    } else if (is_op("/")) {
      op = BinOp::kDiv;
    } else if (is_op("//")) {
      op = BinOp::kFloorDiv;
    } else if (is_op("%")) {
      op = BinOp::kMod;
    } else {
      break;
    }
    next();
    left = binary(ExprKind::kBinary, std::move(left), parse_pow(), line);
    left->op = op;
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  int line = cur().line;
  ExprPtr left = parse_unary(true);
  while (skip_op("**")) {
    left = binary(ExprKind::kBinary, std::move(left), parse_unary(true), line);
    left->op = BinOp::kPow;
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  int line = cur().line;
  DepthGuard guard(nesting_, line);
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    ExprKind kind = is_op("-") ? ExprKind::kNeg : ExprKind::kPos;
    next();
    node = make(kind, line);
    node->args.push_back(parse_unary(false));
  } else {
    node = parse_primary();
  }
  if (node->kind == ExprKind::kNeg || node->kind == ExprKind::kPos) node = seal(std::move(node));
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary() {
  const Token& t = cur();
  int line = t.line;
  ExprPtr node;
  if (t.type == TokType::kName) {
    if (t.text == "true" || t.text == "false" || t.text == "True" || t.text == "False") {
      node = make(ExprKind::kConst, line);
      node->value = Value::boolean(t.text == "true" || t.text == "True");
    } else if (t.text == "none" || t.text == "None") {
      node = make(ExprKind::kConst, line);
    } else {
      node = make(ExprKind::kName, line);
      node->name = t.text;
      node->name_id = prog_->names.intern(t.text);
      note_name_use(node->name);
    }
    next();
  } else if (t.type == TokType::kString) {
    std::string s;
    while (cur().type == TokType::kString) {
      s += cur().text;
      next();
    }
    node = make(ExprKind::kConst, line);
    node->value = Value::string(std::move(s));
  } else if (t.type == TokType::kInt || t.type == TokType::kFloat) {
    node = make(ExprKind::kConst, line);
    node->value =
        t.type == TokType::kInt ? Value::integer(t.int_value) : Value::number(t.float_value);
    next();
  } else if (is_op("(")) {
    next();
    node = parse_tuple(false, true, {}, true);
    expect_op(")");
  } else if (is_op("[")) {
    node = parse_list();
  } else if (is_op("{")) {
    node = parse_dict();
  } else {
    error("unexpected " + describe(t));
  }
  return node;
}

bool Parser::is_tuple_end(std::initializer_list<const char*> extra_end) const {
  if (cur().type == TokType::kVarEnd || cur().type == TokType::kBlockEnd || is_op(")")) return true;
  for (const char* name : extra_end) {
    if (is_name(name)) return true;
  }
  return false;
}

ExprPtr Parser::parse_tuple(bool simplified, bool with_condexpr,
                            std::initializer_list<const char*> extra_end, bool explicit_parens) {
  int line = cur().line;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    args.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) error("Expected an expression, got " + describe(cur()));
  }
  auto e = make(ExprKind::kTuple, line);
  e->args = std::move(args);
  return seal(std::move(e));
}

ExprPtr Parser::parse_list() {
  auto e = make(ExprKind::kList, cur().line);
  expect_op("[");
  while (!is_op("]")) {
    if (!e->args.empty()) expect_op(",");
    if (is_op("]")) break;
    e->args.push_back(parse_expression());
  }
  expect_op("]");
  return seal(std::move(e));
}

ExprPtr Parser::parse_dict() {
  auto e = make(ExprKind::kDict, cur().line);
  expect_op("{");
  while (!is_op("}")) {
    if (!e->args.empty()) expect_op(",");
    if (is_op("}")) break;
    e->args.push_back(parse_expression());
    expect_op(":");
    e->args.push_back(parse_expression());
  }
  expect_op("}");
  return seal(std::move(e));
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      node = parse_subscript(std::move(node));
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|")) {
      node = parse_filter(std::move(node), false);
    } else if (is_name("is")) {
      node = parse_test(std::move(node));
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  int line = cur().line;
  if (skip_op(".")) {
    const Token& t = cur();
    if (t.type == TokType::kName) {
      auto e = make(ExprKind::kAttr, line);
      e->name = t.text;
      e->args.push_back(std::move(node));
      next();
      return seal(std::move(e));
    }
    if (t.type != TokType::kInt) error("expected name or number");
    auto e = make(ExprKind::kItem, line);
    e->args.push_back(std::move(node));
    auto idx = make(ExprKind::kConst, line);
    idx->value = Value::integer(t.int_value);
    e->args.push_back(std::move(idx));
    next();
    return seal(std::move(e));
  }
  expect_op("[");
  std::vector<ExprPtr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  if (args.empty()) error("expected subscript expression");
  ExprPtr arg;
  if (args.size() == 1) {
    arg = std::move(args[0]);
  } else {
    arg = make(ExprKind::kTuple, line);
    arg->args = std::move(args);
  }
  if (arg->kind == ExprKind::kSlice) {  // kSlice placeholder: [start, stop, step]
    arg->args.insert(arg->args.begin(), std::move(node));
    return seal(std::move(arg));
  }
  auto e = make(ExprKind::kItem, line);
  e->args.push_back(std::move(node));
  e->args.push_back(std::move(arg));
  return seal(std::move(e));
}

ExprPtr Parser::parse_subscribed() {
  int line = cur().line;
  std::vector<ExprPtr> parts;
  if (skip_op(":")) {
    parts.push_back(nullptr);
  } else {
    ExprPtr node = parse_expression();
    if (!skip_op(":")) return node;
    parts.push_back(std::move(node));
  }
  if (is_op(":") || is_op("]") || is_op(",")) {
    parts.push_back(nullptr);
  } else {
    parts.push_back(parse_expression());
  }
  if (skip_op(":")) {
    parts.push_back(is_op("]") || is_op(",") ? nullptr : parse_expression());
  } else {
    parts.push_back(nullptr);
  }
  auto e = make(ExprKind::kSlice, line);
  e->args = std::move(parts);
  return e;
}

void Parser::parse_call_args(Expr& node) {
  expect_op("(");
  bool require_comma = false;
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    if (is_op("*") || is_op("**")) error("*args and **kwargs in calls are not supported");
    if (cur().type == TokType::kName && look().type == TokType::kOp && look().text == "=") {
      std::string key = cur().text;
      next();
      next();
      node.kwargs.emplace_back(std::move(key), parse_expression());
    } else {
      if (!node.kwargs.empty()) error("invalid syntax for function call expression");
      node.args.push_back(parse_expression());
    }
    require_comma = true;
  }
  expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr callee) {
  auto e = make(ExprKind::kCall, cur().line);
  e->args.push_back(std::move(callee));
  parse_call_args(*e);
  return seal(std::move(e));
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    int line = cur().line;
    std::string name = expect_name();
    while (skip_op(".")) {
      name += '.';
      name += expect_name();
    }
    auto e = make(ExprKind::kFilter, line);
    e->name = name;
    e->filter = find_filter(name);
    e->args.push_back(std::move(node));
    if (is_op("(")) parse_call_args(*e);
    node = seal(std::move(e));
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  int line = cur().line;
  next();  // `is`
  bool negated = skip_name("not");
  std::string name = expect_name();
  while (skip_op(".")) {
    name += '.';
    name += expect_name();
  }
  auto e = make(ExprKind::kTest, line);
  e->name = name;
  e->test = find_test(name);
  e->args.push_back(std::move(node));
  const Token& t = cur();
  if (is_op("(")) {
    parse_call_args(*e);
  } else if ((t.type == TokType::kName || t.type == TokType::kString || t.type == TokType::kInt ||
              t.type == TokType::kFloat || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) error("You cannot chain multiple tests with is");
    e->args.push_back(parse_postfix(parse_primary()));
  }
  if (!negated) return seal(std::move(e));
  auto n = make(ExprKind::kNot, line);
  n->args.push_back(std::move(e));
  return seal(std::move(n));
}

}  // namespace rs::engine::jinja
