// Python string semantics over UTF-8: code point length/indexing, str() and repr() of values
// (None, True, 1.0, {'a': [1, 'x']}), float repr, HTML escaping (markupsafe).
// Pure functions: any thread may call them on values it owns.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "value.h"

namespace rs::engine::jinja {

inline constexpr size_t kMaxStringBytes = 16u << 20;  // any string built while rendering

// UTF-8 decoding is lenient: an invalid byte decodes as itself (U+0080..U+00FF range).
std::vector<uint32_t> utf8_decode(std::string_view s);
void utf8_append(std::string& out, uint32_t cp);
std::string utf8_encode(const std::vector<uint32_t>& cps, size_t begin, size_t end);
size_t utf8_length(std::string_view s);
bool is_ascii(std::string_view s);
std::vector<Value> utf8_chars(std::string_view s);

std::string float_repr(double d);
std::string str_repr(std::string_view s);
std::string py_str(const Value& v);   // str(v): what {{ v }} prints
std::string py_repr(const Value& v);  // repr(v)
std::string html_escape(std::string_view s);

// Python's str.isspace() for one code point (ASCII and the common Unicode spaces).
bool is_py_space(uint32_t cp);
// Python's str.splitlines() (no keepends).
std::vector<std::string> py_splitlines(std::string_view s);

void check_string_size(size_t bytes);

}  // namespace rs::engine::jinja
