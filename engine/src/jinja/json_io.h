// JSON in and out of Values: parsing the render inputs (key order kept, depth bounded) and
// transformers' tojson, i.e. Python's json.dumps with its ensure_ascii / indent / separators /
// sort_keys options. Pure functions: any thread, on values it owns.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "rs/core/result.h"
#include "value.h"

namespace rs::engine::jinja {

// Integers become int (floats when beyond int64), other numbers float; dicts keep key order.
// Nesting deeper than kMaxDepth is an error.
Result<Value> parse_json(std::string_view text);

struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // nullopt: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};

// json.dumps(v, ...); throws RenderError ("Object of type X is not JSON serializable").
std::string to_json(const Value& v, const JsonOptions& options);

}  // namespace rs::engine::jinja
