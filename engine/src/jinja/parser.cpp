// Statement grammar (jinja2/parser.py) and the compile-time checks Jinja's code generator
// makes: unknown filters/tests are errors unless inside an `if` or a conditional expression
// (there Jinja defers them to run time), break/continue only inside a loop.
#include "parser.h"

#include "parser_impl.h"

namespace rs::engine::jinja {

DepthGuard::DepthGuard(int& depth, int line) : depth_(depth) {
  if (++depth_ > kMaxDepth) {
    --depth_;
    throw ParseError{line, "template nested too deeply (limit " + std::to_string(kMaxDepth) + ")"};
  }
}

bool Parser::skip_op(const char* op) {
  if (!is_op(op)) return false;
  next();
  return true;
}

bool Parser::skip_name(const char* name) {
  if (!is_name(name)) return false;
  next();
  return true;
}

void Parser::expect_op(const char* op) {
  if (!skip_op(op)) error(std::string("expected token '") + op + "', got " + describe(cur()));
}

std::string Parser::expect_name() {
  if (cur().type != TokType::kName) error("expected token 'name', got " + describe(cur()));
  std::string name = cur().text;
  next();
  return name;
}

void Parser::expect_block_end() {
  if (cur().type != TokType::kBlockEnd)
    error("expected token 'end of statement block', got " + describe(cur()));
  next();
}

void Parser::error(const std::string& msg) const {
  error_at(cur().line, msg);
}
void Parser::error_at(int line, const std::string& msg) const {
  throw ParseError{line, msg};
}

std::string Parser::describe(const Token& t) const {
  switch (t.type) {
    case TokType::kEof:
      return "end of template";
    case TokType::kVarEnd:
      return "end of print statement";
    case TokType::kBlockEnd:
      return "end of statement block";
    case TokType::kVarBegin:
      return "begin of print statement";
    case TokType::kBlockBegin:
      return "begin of statement block";
    case TokType::kData:
      return "template data";
    case TokType::kString:
      return "string";
    case TokType::kInt:
      return "integer";
    case TokType::kFloat:
      return "float";
    default:
      return "'" + t.text + "'";
  }
}

void Parser::note_name_use(const std::string& name) {
  for (MacroDef* m : macros_) {
    if (name == "caller") m->uses_caller = true;
    if (name == "varargs") m->uses_varargs = true;
    if (name == "kwargs") m->uses_kwargs = true;
  }
}

Body Parser::subparse(std::initializer_list<const char*> end_tags) {
  Body body;
  while (cur().type != TokType::kEof) {
    const Token& t = cur();
    if (t.type == TokType::kData) {
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::kData;
      s->line = t.line;
      s->text = t.text;
      body.push_back(std::move(s));
      next();
    } else if (t.type == TokType::kVarBegin) {
      next();
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::kPrint;
      s->line = cur().line;
      s->expr = parse_tuple(false, true, {}, false);
      if (cur().type != TokType::kVarEnd)
        error("expected token 'end of print statement', got " + describe(cur()));
      next();
      body.push_back(std::move(s));
    } else if (t.type == TokType::kBlockBegin) {
      next();
      for (const char* tag : end_tags) {
        if (is_name(tag)) return body;
      }
      parse_statement(body);
      expect_block_end();
    } else {
      error("unexpected " + describe(t));
    }
  }
  return body;
}

Body Parser::parse_statements(std::initializer_list<const char*> end_tags, bool drop_needle) {
  skip_op(":");
  expect_block_end();
  Body body = subparse(end_tags);
  if (cur().type == TokType::kEof) {
    std::string expected;
    for (const char* tag : end_tags)
      expected += (expected.empty() ? "'" : " or '") + std::string(tag) + "'";
    error("Unexpected end of template. Jinja was looking for the following tags: " + expected +
          ".");
  }
  if (drop_needle) next();
  return body;
}

void Parser::parse_statement(Body& out) {
  const Token& t = cur();
  if (t.type != TokType::kName) error("tag name expected");
  DepthGuard guard(nesting_, t.line);
  const std::string& tag = t.text;
  if (tag == "for") {
    out.push_back(parse_for());
  } else if (tag == "if") {
    out.push_back(parse_if());
  } else if (tag == "set") {
    out.push_back(parse_set());
  } else if (tag == "macro") {
    out.push_back(parse_macro());
  } else if (tag == "call") {
    out.push_back(parse_call_block());
  } else if (tag == "filter") {
    out.push_back(parse_filter_block());
  } else if (tag == "with") {
    out.push_back(parse_with());
  } else if (tag == "generation") {
    out.push_back(parse_generation());
  } else if (tag == "print") {
    parse_print(out);
  } else if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) error("'" + tag + "' outside of a loop");
    auto s = std::make_unique<Stmt>();
    s->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    s->line = t.line;
    next();
    out.push_back(std::move(s));
  } else if (tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
             tag == "block" || tag == "autoescape") {
    error("the '" + tag + "' tag is not supported (chat templates are self-contained)");
  } else {
    error("Encountered unknown tag '" + tag + "'.");
  }
}

Target Parser::parse_assign_target(bool with_namespace,
                                   std::initializer_list<const char*> extra_end) {
  Target target;
  int line = cur().line;
  if (with_namespace && cur().type == TokType::kName && look().type == TokType::kOp &&
      look().text == ".") {
    target.kind = Target::Kind::kAttr;
    target.ids.push_back(prog_->names.intern(expect_name()));
    next();
    target.attr = expect_name();
    return target;
  }
  ExprPtr e = parse_tuple(true, true, extra_end, false);
  if (e->kind == ExprKind::kName) {
    target.ids.push_back(e->name_id);
    return target;
  }
  if (e->kind == ExprKind::kTuple) {
    target.kind = Target::Kind::kTuple;
    for (const auto& item : e->args) {
      if (item->kind != ExprKind::kName)
        error_at(line, "can't assign to a nested tuple or a constant");
      target.ids.push_back(item->name_id);
    }
    return target;
  }
  error_at(line, "can't assign to this expression");
}

StmtPtr Parser::parse_for() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kFor;
  s->line = cur().line;
  next();
  s->target = parse_assign_target(false, {"in"});
  if (!skip_name("in")) error("expected token 'in', got " + describe(cur()));
  s->expr = parse_tuple(false, false, {"recursive"}, false);
  if (skip_name("if")) s->cond = parse_expression();
  s->recursive = skip_name("recursive");
  ++loop_depth_;
  s->body = parse_statements({"endfor", "else"}, false);
  --loop_depth_;
  bool has_else = is_name("else");
  next();
  if (has_else) {
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->else_body = parse_statements({"endfor"}, true);
    loop_depth_ = saved;
  }
  return s;
}

StmtPtr Parser::parse_if() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kIf;
  s->line = cur().line;
  next();
  while (true) {
    IfBranch branch;
    branch.cond = parse_tuple(false, false, {}, false);
    branch.body = parse_statements({"elif", "else", "endif"}, false);
    s->branches.push_back(std::move(branch));
    std::string tag = cur().text;
    next();
    if (tag == "elif") continue;
    if (tag == "else") s->else_body = parse_statements({"endif"}, true);
    break;
  }
  return s;
}

StmtPtr Parser::parse_set() {
  auto s = std::make_unique<Stmt>();
  s->line = cur().line;
  next();
  s->target = parse_assign_target(true, {});
  if (skip_op("=")) {
    s->kind = StmtKind::kSet;
    s->expr = parse_tuple(false, true, {}, false);
    return s;
  }
  s->kind = StmtKind::kSetBlock;
  if (is_op("|")) s->expr = parse_filter(nullptr, false);
  s->body = parse_scoped_body({"endset"});
  return s;
}

// A body with its own scope (macro, call, filter, set and generation blocks): break and
// continue do not reach an enclosing loop from inside it.
Body Parser::parse_scoped_body(std::initializer_list<const char*> end_tags) {
  int saved = loop_depth_;
  loop_depth_ = 0;
  Body body = parse_statements(end_tags, true);
  loop_depth_ = saved;
  return body;
}

void Parser::parse_signature(MacroDef& m) {
  expect_op("(");
  while (!is_op(")")) {
    if (!m.params.empty()) expect_op(",");
    std::string name = expect_name();
    m.params.push_back(prog_->names.intern(name));
    m.param_names.push_back(name);
    if (skip_op("=")) {
      m.defaults.push_back(parse_expression());
    } else if (!m.defaults.empty()) {
      error("non-default argument follows default argument");
    }
  }
  expect_op(")");
}

StmtPtr Parser::parse_macro() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kMacro;
  s->line = cur().line;
  next();
  s->macro = std::make_unique<MacroDef>();
  s->macro->name = expect_name();
  s->macro->name_id = prog_->names.intern(s->macro->name);
  parse_signature(*s->macro);
  macros_.push_back(s->macro.get());
  s->macro->body = parse_scoped_body({"endmacro"});
  macros_.pop_back();
  return s;
}

StmtPtr Parser::parse_call_block() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kCallBlock;
  s->line = cur().line;
  next();
  s->macro = std::make_unique<MacroDef>();
  s->macro->name = "caller";
  if (is_op("(")) parse_signature(*s->macro);
  s->expr = parse_expression();
  if (s->expr->kind != ExprKind::kCall) error_at(s->line, "expected call");
  macros_.push_back(s->macro.get());
  s->macro->body = parse_scoped_body({"endcall"});
  macros_.pop_back();
  return s;
}

StmtPtr Parser::parse_filter_block() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kFilterBlock;
  s->line = cur().line;
  next();
  s->expr = parse_filter(nullptr, true);
  s->body = parse_scoped_body({"endfilter"});
  return s;
}

StmtPtr Parser::parse_with() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kWith;
  s->line = cur().line;
  next();
  while (cur().type != TokType::kBlockEnd) {
    if (!s->assigns.empty()) expect_op(",");
    Target target = parse_assign_target(false, {});
    expect_op("=");
    s->assigns.emplace_back(std::move(target), parse_expression());
  }
  s->body = parse_statements({"endwith"}, true);
  return s;
}

StmtPtr Parser::parse_generation() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::kScope;
  s->line = cur().line;
  next();
  s->body = parse_scoped_body({"endgeneration"});
  return s;
}

void Parser::parse_print(Body& out) {
  int line = cur().line;
  next();
  bool first = true;
  while (cur().type != TokType::kBlockEnd) {
    if (!first) expect_op(",");
    first = false;
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::kPrint;
    s->line = line;
    s->expr = parse_expression();
    out.push_back(std::move(s));
  }
}

namespace {

// Jinja's code generator: a filter or test missing from the environment is a compile error
// unless it sits in an if statement or conditional expression (a "soft" frame); frames of
// loops, macros and blocks are not soft even inside an if.
class NameChecker {
 public:
  void body(const Body& b, bool soft) {
    for (const auto& s : b) stmt(*s, soft);
  }

 private:
  void expr(const Expr* e, bool soft) {
    if (e == nullptr) return;
    if (e->kind == ExprKind::kFilter && e->filter == nullptr && !soft) {
      throw ParseError{e->line, "No filter named '" + e->name + "'."};
    }
    if (e->kind == ExprKind::kTest && e->test == nullptr && !soft) {
      throw ParseError{e->line, "No test named '" + e->name + "'."};
    }
    bool inner = soft || e->kind == ExprKind::kCond;
    for (const auto& a : e->args) expr(a.get(), inner);
    for (const auto& kw : e->kwargs) expr(kw.second.get(), inner);
  }

  void stmt(const Stmt& s, bool soft) {
    switch (s.kind) {
      case StmtKind::kIf:
        for (const auto& br : s.branches) {
          expr(br.cond.get(), true);
          body(br.body, true);
        }
        body(s.else_body, true);
        return;
      case StmtKind::kFor:
        expr(s.expr.get(), soft);
        expr(s.cond.get(), false);
        body(s.body, false);
        body(s.else_body, false);
        return;
      case StmtKind::kMacro:
      case StmtKind::kCallBlock:
        for (const auto& d : s.macro->defaults) expr(d.get(), false);
        expr(s.expr.get(), soft);
        body(s.macro->body, false);
        return;
      case StmtKind::kWith:
        for (const auto& a : s.assigns) expr(a.second.get(), soft);
        body(s.body, false);
        return;
      default:
        expr(s.expr.get(),
             s.kind == StmtKind::kSetBlock || s.kind == StmtKind::kFilterBlock ? false : soft);
        body(s.body, false);
    }
  }
};

}  // namespace

std::unique_ptr<Program> Parser::run() {
  prog_ = std::make_unique<Program>();
  prog_->id_loop = prog_->names.intern("loop");
  prog_->id_caller = prog_->names.intern("caller");
  prog_->id_varargs = prog_->names.intern("varargs");
  prog_->id_kwargs = prog_->names.intern("kwargs");
  prog_->body = subparse({});
  if (cur().type != TokType::kEof) error("unexpected " + describe(cur()));
  NameChecker().body(prog_->body, false);
  return std::move(prog_);
}

std::unique_ptr<Program> parse_program(std::string_view source) {
  return Parser(tokenize(source)).run();
}

}  // namespace rs::engine::jinja
