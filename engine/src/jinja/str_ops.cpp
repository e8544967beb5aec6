// Python str operations over UTF-8.
#include "str_ops.h"

#include "py_str.h"

namespace rs::engine::jinja {

namespace {

uint32_t to_upper(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xe0 && c <= 0xfe && c != 0xf7) || (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) ||
      (c >= 0x430 && c <= 0x44f)) {
    return c - 32;
  }
  if (c == 0xff) return 0x178;
  if (c == 0xb5) return 0x39c;
  if (c == 0x3c2) return 0x3a3;
  if (c >= 0x450 && c <= 0x45f) return c - 80;
  return c;
}

uint32_t to_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if ((c >= 0xc0 && c <= 0xde && c != 0xd7) || (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) ||
      (c >= 0x410 && c <= 0x42f)) {
    return c + 32;
  }
  if (c == 0x178) return 0xff;
  if (c >= 0x400 && c <= 0x40f) return c + 80;
  return c;
}

bool is_upper_cp(uint32_t c) {
  return to_lower(c) != c;
}
bool is_lower_cp(uint32_t c) {
  return to_upper(c) != c || c == 0xdf;
}
bool is_cased(uint32_t c) {
  return is_upper_cp(c) || is_lower_cp(c);
}

void append_upper(std::string& out, uint32_t c) {
  if (c == 0xdf) {
    out += "SS";
  } else {
    utf8_append(out, to_upper(c));
  }
}

template <typename F>
std::string map_cps(std::string_view s, F f) {
  std::string out;
  out.reserve(s.size());
  for (uint32_t c : utf8_decode(s)) f(out, c);
  return out;
}

bool in_set(uint32_t c, const std::optional<std::vector<uint32_t>>& set) {
  if (!set) return is_py_space(c);
  for (uint32_t x : *set) {
    if (x == c) return true;
  }
  return false;
}

}  // namespace

std::string py_upper(std::string_view s) {
  return map_cps(s, [](std::string& o, uint32_t c) { append_upper(o, c); });
}
std::string py_lower(std::string_view s) {
  return map_cps(s, [](std::string& o, uint32_t c) { utf8_append(o, to_lower(c)); });
}
std::string py_swapcase(std::string_view s) {
  return map_cps(s, [](std::string& o, uint32_t c) {
    if (is_upper_cp(c)) {
      utf8_append(o, to_lower(c));
    } else {
      append_upper(o, c);
    }
  });
}

std::string py_capitalize(std::string_view s) {
  bool first = true;
  return map_cps(s, [&first](std::string& o, uint32_t c) {
    if (first) {
      append_upper(o, c);
    } else {
      utf8_append(o, to_lower(c));
    }
    first = false;
  });
}

std::string py_title(std::string_view s) {
  bool prev_cased = false;
  return map_cps(s, [&prev_cased](std::string& o, uint32_t c) {
    if (prev_cased) {
      utf8_append(o, to_lower(c));
    } else {
      append_upper(o, c);
    }
    prev_cased = is_cased(c);
  });
}

bool py_is_lower_cased(std::string_view s, bool want_upper) {
  bool any = false;
  for (uint32_t c : utf8_decode(s)) {
    if (want_upper ? is_lower_cp(c) : is_upper_cp(c)) return false;
    if (is_cased(c)) any = true;
  }
  return any;
}

std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                     bool right) {
  std::optional<std::vector<uint32_t>> set;
  if (chars) set = utf8_decode(*chars);
  std::vector<uint32_t> cps = utf8_decode(s);
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && in_set(cps[b], set)) ++b;
  }
  if (right) {
    while (e > b && in_set(cps[e - 1], set)) --e;
  }
  return utf8_encode(cps, b, e);
}

std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep,
                                  int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) fail("empty separator");
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      size_t q = s.find(*sep, pos);
      if (q == std::string_view::npos) break;
      out.emplace_back(s.substr(pos, q - pos));
      pos = q + sep->size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  std::vector<uint32_t> cps = utf8_decode(s);
  size_t i = 0, n = cps.size();
  while (true) {
    while (i < n && is_py_space(cps[i])) ++i;
    if (i >= n) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      size_t e = n;
      while (e > i && is_py_space(cps[e - 1])) --e;
      out.push_back(utf8_encode(cps, i, e));
      break;
    }
    size_t j = i;
    while (j < n && !is_py_space(cps[j])) ++j;
    out.push_back(utf8_encode(cps, i, j));
    i = j;
  }
  return out;
}

std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep,
                                   int64_t maxsplit) {
  if (maxsplit < 0) return py_split(s, sep, maxsplit);
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) fail("empty separator");
    size_t end = s.size();
    while (static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      size_t q = s.rfind(*sep, end - sep->size());
      if (q == std::string_view::npos) break;
      out.emplace_back(s.substr(q + sep->size(), end - q - sep->size()));
      end = q;
    }
    out.emplace_back(s.substr(0, end));
  } else {
    std::vector<uint32_t> cps = utf8_decode(s);
    size_t e = cps.size();
    while (true) {
      while (e > 0 && is_py_space(cps[e - 1])) --e;
      if (e == 0) break;
      if (static_cast<int64_t>(out.size()) >= maxsplit) {
        size_t b = 0;
        while (b < e && is_py_space(cps[b])) ++b;
        out.push_back(utf8_encode(cps, b, e));
        break;
      }
      size_t b = e;
      while (b > 0 && !is_py_space(cps[b - 1])) --b;
      out.push_back(utf8_encode(cps, b, e));
      e = b;
    }
  }
  return {out.rbegin(), out.rend()};
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view with,
                       int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts `with` between every code point
    std::vector<uint32_t> cps = utf8_decode(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += with;
        ++done;
      }
      if (i < cps.size()) utf8_append(out, cps[i]);
      check_string_size(out.size());
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t q = s.find(old, pos);
    if (q == std::string_view::npos) break;
    out.append(s.substr(pos, q - pos));
    out.append(with);
    check_string_size(out.size());
    pos = q + old.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

int64_t py_find(std::string_view s, std::string_view sub, bool reverse) {
  size_t q = reverse ? s.rfind(sub) : s.find(sub);
  if (q == std::string_view::npos) return -1;
  return static_cast<int64_t>(utf8_length(s.substr(0, q)));
}

int64_t py_count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(utf8_length(s)) + 1;
  int64_t n = 0;
  for (size_t q = s.find(sub); q != std::string_view::npos; q = s.find(sub, q + sub.size())) ++n;
  return n;
}

std::string py_format(std::string_view fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') ++i;
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string_view::npos) fail("Single '{' encountered in format string");
    std::string field(fmt.substr(i + 1, close - i - 1));
    i = close;
    char conv = 's';
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      conv = bang + 1 < field.size() ? field[bang + 1] : 's';
      field.resize(bang);
    }
    if (field.find(':') != std::string::npos) fail("format specs in str.format are not supported");
    const Value* v = nullptr;
    if (field.empty() || (field[0] >= '0' && field[0] <= '9')) {
      size_t idx = field.empty() ? auto_index++ : static_cast<size_t>(std::stoul(field));
      if (idx >= args.pos.size())
        fail("Replacement index " + std::to_string(idx) + " out of range");
      v = &args.pos[idx];
    } else {
      for (const auto& kv : args.kw) {
        if (kv.first == field) v = &kv.second;
      }
      if (v == nullptr) fail("KeyError: '" + field + "'");
    }
    out += conv == 'r' ? py_repr(*v) : py_str(*v);
    check_string_size(out.size());
  }
  return out;
}

}  // namespace rs::engine::jinja
