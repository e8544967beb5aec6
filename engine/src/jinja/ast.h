// The parsed template: expression and statement nodes, macro definitions and the table of
// interned variable names. Built once by the parser, then read-only: any number of threads
// may render from the same Program concurrently.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "value.h"

namespace rs::engine::jinja {

using FilterFn = Value (*)(Evaluator& ev, const Value& input, CallArgs& args);
using TestFn = bool (*)(Evaluator& ev, const Value& input, CallArgs& args);

enum class ExprKind : uint8_t {
  kConst,
  kName,
  kList,
  kTuple,
  kDict,
  kAttr,    // args[0].name
  kItem,    // args[0][args[1]]
  kSlice,   // args[0][args[1]:args[2]:args[3]] (null parts allowed)
  kCall,    // args[0](args[1:], kwargs)
  kFilter,  // args[0] | name(args[1:], kwargs); args[0] null inside {% filter %}
  kTest,    // args[0] is name(args[1:], kwargs)
  kNeg,
  kPos,
  kNot,
  kBinary,   // args[0] op args[1]
  kConcat,   // args joined with ~
  kCompare,  // args[0] cmp_ops[0] args[1] cmp_ops[1] args[2] ...
  kAnd,
  kOr,
  kCond,  // args[0] if args[1] else args[2] (args[2] may be null)
};

enum class BinOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CmpOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind;
  int line = 0;
  int depth = 1;     // nesting of operands (bounded at parse)
  Value value;       // kConst
  int name_id = -1;  // kName
  std::string name;  // kName text, kAttr attribute, kFilter / kTest name
  BinOp op = BinOp::kAdd;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<CmpOp> cmp_ops;
  FilterFn filter = nullptr;  // null: unknown filter (inside an if: fails when run)
  TestFn test = nullptr;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// An assignment target: a name, a tuple of names, or namespace.attr.
struct Target {
  enum class Kind : uint8_t { kName, kTuple, kAttr } kind = Kind::kName;
  std::vector<int> ids;  // kName: one; kTuple: several; kAttr: the namespace variable
  std::string attr;
};

struct MacroDef {
  std::string name;
  int name_id = -1;
  std::vector<int> params;
  std::vector<std::string> param_names;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  Body body;
  bool uses_caller = false;
  bool uses_varargs = false;
  bool uses_kwargs = false;
};

enum class StmtKind : uint8_t {
  kData,
  kPrint,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kCallBlock,
  kFilterBlock,
  kBreak,
  kContinue,
  kScope,  // {% generation %}: renders its body
  kWith,
};

struct IfBranch {
  ExprPtr cond;
  Body body;
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;  // kData
  ExprPtr expr;      // kPrint / kSet value, kFor iterable, kCallBlock call, kFilterBlock filters
  ExprPtr cond;      // kFor `if` filter
  std::vector<IfBranch> branches;  // kIf
  Body body;
  Body else_body;  // kIf / kFor
  Target target;   // kFor / kSet / kSetBlock
  bool recursive = false;
  std::unique_ptr<MacroDef> macro;                  // kMacro, or the caller of a kCallBlock
  std::vector<std::pair<Target, ExprPtr>> assigns;  // kWith
};

// Variable names are interned: the evaluator looks variables up by id.
struct Names {
  std::vector<std::string> names;
  std::unordered_map<std::string, int> ids;
  int intern(const std::string& name) {
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
    names.push_back(name);
    ids.emplace(name, static_cast<int>(names.size()) - 1);
    return static_cast<int>(names.size()) - 1;
  }
  int find(const std::string& name) const {
    auto it = ids.find(name);
    return it == ids.end() ? -1 : it->second;
  }
};

struct Program {
  Body body;
  Names names;
  // ids of the names the evaluator itself binds or provides
  int id_loop = -1, id_caller = -1, id_varargs = -1, id_kwargs = -1;
};

}  // namespace rs::engine::jinja
