// Numbers as the text values of Redis hash and stream fields (private to rs_store):
// the shortest text that reads back as the same double, and strict whole-string parses.
#pragma once

#include <charconv>
#include <string>
#include <string_view>

namespace rs::store::detail {

inline std::string num(double x) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

// The whole of s is one number of type T (no sign for unsigned T, no spaces).
template <class T>
bool parse_num(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

}  // namespace rs::store::detail
