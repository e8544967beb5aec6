// Parser: tokens -> Program (the AST), following jinja2/parser.py 3.1.2's grammar and
// precedence. Unknown statements, filters and tests are errors here (a filter or test used
// only inside an `if` fails when run instead, as Jinja defers those). Parse-time only.
#pragma once

#include <string_view>

#include "ast.h"
#include "lexer.h"

namespace rs::engine::jinja {

// Throws ParseError.
std::unique_ptr<Program> parse_program(std::string_view source);

}  // namespace rs::engine::jinja
