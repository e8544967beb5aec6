// The Parser class shared by parser.cpp (statements) and parser_expr.cpp (expressions).
// One Parser per parse call; not shared between threads.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "ast.h"
#include "lexer.h"

namespace rs::engine::jinja {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}
  std::unique_ptr<Program> run();

  // expressions (parser_expr.cpp)
  ExprPtr parse_expression(bool with_condexpr = true);
  ExprPtr parse_tuple(bool simplified, bool with_condexpr,
                      std::initializer_list<const char*> extra_end, bool explicit_parens);
  ExprPtr parse_filter(ExprPtr node, bool start_inline);

 private:
  // token stream
  const Token& cur() const { return toks_[pos_]; }
  const Token& look() const { return toks_[pos_ + 1 < toks_.size() ? pos_ + 1 : pos_]; }
  void next() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool is_op(const char* op) const { return cur().type == TokType::kOp && cur().text == op; }
  bool is_name(const char* name) const {
    return cur().type == TokType::kName && cur().text == name;
  }
  bool skip_op(const char* op);
  bool skip_name(const char* name);
  void expect_op(const char* op);
  std::string expect_name();
  void expect_block_end();
  [[noreturn]] void error(const std::string& msg) const;
  [[noreturn]] void error_at(int line, const std::string& msg) const;
  std::string describe(const Token& t) const;

  // expressions
  ExprPtr make(ExprKind kind, int line);
  ExprPtr seal(ExprPtr e);
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  ExprPtr parse_call(ExprPtr callee);
  void parse_call_args(Expr& node);
  ExprPtr parse_test(ExprPtr node);
  bool is_tuple_end(std::initializer_list<const char*> extra_end) const;
  ExprPtr binary(ExprKind kind, ExprPtr a, ExprPtr b, int line);

  // statements (parser.cpp)
  Body subparse(std::initializer_list<const char*> end_tags);
  Body parse_statements(std::initializer_list<const char*> end_tags, bool drop_needle);
  void parse_statement(Body& out);
  StmtPtr parse_for();
  StmtPtr parse_if();
  StmtPtr parse_set();
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();
  StmtPtr parse_generation();
  void parse_print(Body& out);
  Target parse_assign_target(bool with_namespace, std::initializer_list<const char*> extra_end);
  void parse_signature(MacroDef& m);
  void note_name_use(const std::string& name);
  Body parse_scoped_body(std::initializer_list<const char*> end_tags);

  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::unique_ptr<Program> prog_;
  std::vector<MacroDef*> macros_;  // the macros being parsed (caller/varargs/kwargs use)
  int loop_depth_ = 0;             // for break/continue
  int nesting_ = 0;                // statement and expression recursion
};

// Marks the recursion of one parse level; throws past kMaxDepth.
class DepthGuard {
 public:
  DepthGuard(int& depth, int line);
  ~DepthGuard() { --depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  int& depth_;
};

}  // namespace rs::engine::jinja
