// Lexer: template source -> tokens, with Jinja's whitespace rules as transformers configures
// them (trim_blocks, lstrip_blocks, `-`/`+` markers, one trailing newline dropped, raw blocks).
// Called once per template at parse time; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rs::engine::jinja {

struct ParseError {
  int line;
  std::string message;
};

enum class TokType : uint8_t {
  kData,
  kVarBegin,
  kVarEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInt,
  kFloat,
  kOp,
  kEof,
};

struct Token {
  TokType type;
  int line;
  std::string text;  // data, name, decoded string, operator
  int64_t int_value = 0;
  double float_value = 0;
};

// Throws ParseError.
std::vector<Token> tokenize(std::string_view source);

}  // namespace rs::engine::jinja
