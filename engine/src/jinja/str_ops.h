// Python str operations on UTF-8 text (split, strip, replace, case mapping, find, format...)
// shared by the str methods and the filters. Case mapping covers ASCII, Latin-1, Greek and
// Cyrillic letters. Pure functions: any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "value.h"

namespace rs::engine::jinja {

std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_capitalize(std::string_view s);
std::string py_title(std::string_view s);  // str.title()
std::string py_swapcase(std::string_view s);
// chars: nullopt strips whitespace.
std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                     bool right);
// sep: nullopt splits on whitespace runs. maxsplit < 0: no limit.
std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep,
                                  int64_t maxsplit);
std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep,
                                   int64_t maxsplit);
std::string py_replace(std::string_view s, std::string_view old, std::string_view with,
                       int64_t count);
int64_t py_find(std::string_view s, std::string_view sub, bool reverse);  // code point index or -1
int64_t py_count(std::string_view s, std::string_view sub);
bool py_is_lower_cased(std::string_view s, bool want_upper);  // str.islower() / str.isupper()
// str.format(*args, **kwargs) without format specs beyond '' (conversions !s !r allowed).
std::string py_format(std::string_view fmt, const CallArgs& args);

}  // namespace rs::engine::jinja
