// Python str()/repr() of values, float repr, UTF-8 code point helpers.
#include "py_str.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "unicode_tables.h"

namespace rs::engine::jinja {

std::vector<uint32_t> utf8_decode(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    bool ok = n > 0 && i + n <= s.size();
    for (int k = 1; ok && k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) ok = false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (!ok) {
      out.push_back(c);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

std::string utf8_encode(const std::vector<uint32_t>& cps, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end && i < cps.size(); ++i) utf8_append(out, cps[i]);
  return out;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

size_t utf8_length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  return utf8_decode(s).size();
}

std::vector<Value> utf8_chars(std::string_view s) {
  std::vector<Value> out;
  for (uint32_t cp : utf8_decode(s)) {
    std::string ch;
    utf8_append(ch, cp);
    out.push_back(Value::string(std::move(ch)));
  }
  return out;
}

void check_string_size(size_t bytes) {
  if (bytes > kMaxStringBytes) fail("string too large (limit 16 MiB)");
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  size_t e = sci.find('e');
  int exp = std::stoi(sci.substr(e + 1));
  std::string mant = sci.substr(0, e);
  bool neg = !mant.empty() && mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return out + eb;
  }
  if (exp < 0) return out + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  auto int_len = static_cast<size_t>(exp + 1);
  if (digits.size() <= int_len)
    return out + digits + std::string(int_len - digits.size(), '0') + ".0";
  return out + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

namespace {

bool is_printable(uint32_t cp) {
  size_t lo = 0, hi = kNonPrintableCount;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cp < kNonPrintable[mid].first) {
      hi = mid;
    } else if (cp > kNonPrintable[mid].last) {
      lo = mid + 1;
    } else {
      return false;
    }
  }
  return true;
}

void append_hex_escape(std::string& out, uint32_t cp) {
  char buf[16];
  if (cp <= 0xff) {
    std::snprintf(buf, sizeof buf, "\\x%02x", cp);
  } else if (cp <= 0xffff) {
    std::snprintf(buf, sizeof buf, "\\u%04x", cp);
  } else {
    std::snprintf(buf, sizeof buf, "\\U%08x", cp);
  }
  out += buf;
}

}  // namespace

bool is_py_space(uint32_t cp) {
  return std::binary_search(kSpaces, kSpaces + kSpacesCount, cp);
}

std::string str_repr(std::string_view s) {
  char quote = '\'';
  if (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos) quote = '"';
  std::string out(1, quote);
  for (uint32_t cp : utf8_decode(s)) {
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7f) {
      append_hex_escape(out, cp);
    } else if (cp < 0x7f || is_printable(cp)) {
      utf8_append(out, cp);
    } else {
      append_hex_escape(out, cp);
    }
  }
  out += quote;
  return out;
}

namespace {

void append_repr(std::string& out, const Value& v, int depth);
void append_dict(std::string& out, const Dict& d, int depth);

void append_seq(std::string& out, const std::vector<Value>& items, int depth, const char* open,
                const char* close, bool tuple) {
  out += open;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    append_repr(out, items[i], depth + 1);
  }
  if (tuple && items.size() == 1) out += ",";
  out += close;
}

void append_repr(std::string& out, const Value& v, int depth) {
  if (depth > kMaxDepth)
    fail("maximum recursion depth exceeded while getting the repr of an object");
  check_string_size(out.size());
  switch (v.kind()) {
    case Kind::kUndefined:
      out += "Undefined";
      return;
    case Kind::kString:
      if (v.is_markup()) {
        out += "Markup(" + str_repr(v.str()) + ")";
      } else {
        out += str_repr(v.str());
      }
      return;
    case Kind::kList:
      append_seq(out, v.list().items, depth, "[", "]", false);
      return;
    case Kind::kTuple:
      append_seq(out, v.list().items, depth, "(", ")", true);
      return;
    case Kind::kObject:
      if (const Dict* ns = v.object().as_namespace_dict()) {
        out += "<Namespace ";
        append_dict(out, *ns, depth);
        out += ">";
      } else {
        out += v.object().repr();
      }
      return;
    case Kind::kDict:
      append_dict(out, v.dict(), depth);
      return;
    default:
      out += py_str(v);
  }
}

void append_dict(std::string& out, const Dict& d, int depth) {
  out += "{";
  bool first = true;
  for (const auto& [k, val] : d.items) {
    if (!first) out += ", ";
    first = false;
    append_repr(out, k, depth + 1);
    out += ": ";
    append_repr(out, val, depth + 1);
  }
  out += "}";
}

}  // namespace

std::string py_repr(const Value& v) {
  std::string out;
  append_repr(out, v, 0);
  return out;
}

std::string py_str(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return "";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return v.as_bool() ? "True" : "False";
    case Kind::kInt:
      return std::to_string(v.as_int());
    case Kind::kFloat:
      return float_repr(v.as_double());
    case Kind::kString:
      return v.str();
    case Kind::kGenerator:
      return "<generator object>";
    case Kind::kObject:
      return v.object().as_namespace_dict() != nullptr ? py_repr(v) : v.object().repr();
    default:
      return py_repr(v);
  }
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '"':
        out += "&#34;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<std::string> py_splitlines(std::string_view s) {
  std::vector<std::string> lines;
  std::vector<uint32_t> cps = utf8_decode(s);
  size_t start = 0, i = 0;
  while (i < cps.size()) {
    uint32_t c = cps[i];
    bool brk = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e) ||
               c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) {
      ++i;
      continue;
    }
    lines.push_back(utf8_encode(cps, start, i));
    if (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
    start = ++i;
  }
  if (start < cps.size()) lines.push_back(utf8_encode(cps, start, cps.size()));
  return lines;
}

}  // namespace rs::engine::jinja
