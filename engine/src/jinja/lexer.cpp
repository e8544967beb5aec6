// The lexer follows jinja2/lexer.py (3.1.2): the root rule finds the next tag start and strips
// the data before it (`-`: all whitespace; lstrip_blocks: spaces/tabs back to the line start
// for block and comment tags), tags end with `%}\n?` (trim_blocks), `-%}\s*` or `+%}`.
#include "lexer.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "py_str.h"

namespace rs::engine::jinja {

namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

std::string normalize(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) root_step();
    out_.push_back(Token{TokType::kEof, line_, ""});
    return std::move(out_);
  }

 private:
  enum class Tag { kVar, kBlock, kComment, kRaw };

  [[noreturn]] void error(const std::string& msg) { throw ParseError{line_, msg}; }

  void emit(TokType t, std::string text) { out_.push_back(Token{t, line_, std::move(text)}); }

  void advance_to(size_t end) {
    for (size_t i = pos_; i < end && i < src_.size(); ++i) line_ += src_[i] == '\n';
    pos_ = end;
  }

  // Is there `{%(-|+|)\s*raw\s*(-%}\s*|%})` at q? Returns the end position or 0.
  size_t match_raw_begin(size_t q) const {
    size_t i = q + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    while (i < src_.size() && is_ws(src_[i])) ++i;
    if (src_.compare(i, 3, "raw") != 0) return 0;
    i += 3;
    while (i < src_.size() && is_ws(src_[i])) ++i;
    if (src_.compare(i, 3, "-%}") == 0) {
      i += 3;
      while (i < src_.size() && is_ws(src_[i])) ++i;
      return i;
    }
    if (src_.compare(i, 2, "%}") == 0) return i + 2;
    return 0;
  }

  // Emits the data before a tag start, stripped as its sign and kind ask.
  void emit_data(size_t end, char sign, bool lstrip_kind) {
    std::string text = src_.substr(pos_, end - pos_);
    int start_line = line_;
    advance_to(end);
    if (sign == '-') {
      size_t k = text.size();
      while (k > 0 && is_ws(text[k - 1])) --k;
      text.resize(k);
    } else if (sign != '+' && lstrip_kind) {
      size_t nl = text.rfind('\n');
      size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && l_pos < text.size()) {
        bool all_ws = true;
        for (size_t k = l_pos; k < text.size(); ++k) all_ws = all_ws && is_ws(text[k]);
        if (all_ws) text.resize(l_pos);
      }
    }
    if (!text.empty()) out_.push_back(Token{TokType::kData, start_line, std::move(text)});
  }

  void root_step() {
    size_t q = pos_;
    while (true) {
      q = src_.find('{', q);
      if (q == std::string::npos || q + 1 >= src_.size()) {
        emit_data(src_.size(), 0, false);
        return;
      }
      char c = src_[q + 1];
      if (c == '{' || c == '%' || c == '#') break;
      ++q;
    }
    char c = src_[q + 1];
    char sign = q + 2 < src_.size() && (src_[q + 2] == '-' || src_[q + 2] == '+') ? src_[q + 2] : 0;
    size_t raw_end = c == '%' ? match_raw_begin(q) : 0;
    emit_data(q, sign, c == '%' || c == '#');
    line_starting_ = false;
    if (raw_end != 0) {
      advance_to(raw_end);
      line_starting_ = src_[raw_end - 1] == '\n';
      raw_body();
    } else if (c == '#') {
      advance_to(q + 2 + (sign ? 1 : 0));
      comment_body();
    } else {
      emit(c == '{' ? TokType::kVarBegin : TokType::kBlockBegin, "");
      advance_to(q + 2 + (sign ? 1 : 0));
      tag_body(c == '{' ? Tag::kVar : Tag::kBlock);
    }
  }

  // After `-%}`, `-#}` or `-}}`: skip all whitespace; after `%}` / `#}`: one newline.
  void finish_end(size_t after, char sign, bool trim_newline) {
    advance_to(after);
    if (sign == '-') {
      size_t k = pos_;
      while (k < src_.size() && is_ws(src_[k])) ++k;
      advance_to(k);
    } else if (sign != '+' && trim_newline && pos_ < src_.size() && src_[pos_] == '\n') {
      advance_to(pos_ + 1);
    }
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  void comment_body() {
    size_t q = src_.find("#}", pos_);
    if (q == std::string::npos) error("Missing end of comment tag");
    char sign = q > pos_ && (src_[q - 1] == '-' || src_[q - 1] == '+') ? src_[q - 1] : 0;
    finish_end(q + 2, sign, true);
  }

  void raw_body() {
    size_t q = pos_;
    while ((q = src_.find("{%", q)) != std::string::npos) {
      size_t i = q + 2;
      char sign = i < src_.size() && (src_[i] == '-' || src_[i] == '+') ? src_[i] : 0;
      if (sign) ++i;
      while (i < src_.size() && is_ws(src_[i])) ++i;
      if (src_.compare(i, 6, "endraw") == 0) {
        i += 6;
        while (i < src_.size() && is_ws(src_[i])) ++i;
        char end_sign = src_.compare(i, 3, "-%}") == 0   ? '-'
                        : src_.compare(i, 3, "+%}") == 0 ? '+'
                                                         : 0;
        if (end_sign || src_.compare(i, 2, "%}") == 0) {
          emit_data(q, sign, true);
          finish_end(i + (end_sign ? 3 : 2), end_sign, true);
          return;
        }
      }
      q += 2;
    }
    error("Missing end of raw directive");
  }

  bool try_end(Tag tag) {
    const char* close = tag == Tag::kVar ? "}}" : "%}";
    if (src_.compare(pos_, 2, close) == 0) {
      emit(tag == Tag::kVar ? TokType::kVarEnd : TokType::kBlockEnd, "");
      finish_end(pos_ + 2, 0, tag == Tag::kBlock);
      return true;
    }
    char sign = src_[pos_];
    if ((sign == '-' || (sign == '+' && tag == Tag::kBlock)) &&
        src_.compare(pos_ + 1, 2, close) == 0) {
      emit(tag == Tag::kVar ? TokType::kVarEnd : TokType::kBlockEnd, "");
      finish_end(pos_ + 3, sign, tag == Tag::kBlock);
      return true;
    }
    return false;
  }

  void tag_body(Tag tag) {
    std::string balance;
    while (true) {
      while (pos_ < src_.size() && is_ws(src_[pos_])) advance_to(pos_ + 1);
      if (pos_ >= src_.size()) error("unexpected end of template");
      if (balance.empty() && try_end(tag)) return;
      lex_token(balance);
    }
  }

  void lex_token(std::string& balance) {
    char c = src_[pos_];
    if (is_digit(c)) {
      lex_number();
    } else if (is_name_start(c)) {
      size_t e = pos_;
      while (e < src_.size() && is_name_char(src_[e])) ++e;
      emit(TokType::kName, src_.substr(pos_, e - pos_));
      advance_to(e);
    } else if (c == '\'' || c == '"') {
      lex_string(c);
    } else {
      lex_operator(balance);
    }
  }

  void lex_operator(std::string& balance) {
    static const char* kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (src_.compare(pos_, 2, op) == 0) {
        emit(TokType::kOp, op);
        advance_to(pos_ + 2);
        return;
      }
    }
    char c = src_[pos_];
    if (std::strchr("+-/*%~[](){}><=.:|,;", c) == nullptr) {
      error(std::string("unexpected char '") + c + "'");
    }
    if (c == '(' || c == '[' || c == '{') balance += c == '(' ? ')' : c == '[' ? ']' : '}';
    if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) error(std::string("unexpected '") + c + "'");
      if (balance.back() != c)
        error(std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      balance.pop_back();
    }
    emit(TokType::kOp, std::string(1, c));
    advance_to(pos_ + 1);
  }

  size_t scan_digits(size_t i) const {  // (\d+_)*\d+ ; returns i when none
    size_t j = i;
    while (j < src_.size() && is_digit(src_[j])) {
      while (j < src_.size() && is_digit(src_[j])) ++j;
      if (j + 1 < src_.size() && src_[j] == '_' && is_digit(src_[j + 1])) ++j;
    }
    return j;
  }

  void lex_number();
  void lex_string(char quote);
  size_t decode_escape(size_t i, std::string& out);

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

void Lexer::lex_number() {
  size_t start = pos_;
  bool after_dot = start > 0 && src_[start - 1] == '.';
  size_t int_end = scan_digits(start);
  size_t e = int_end;
  bool is_float = false;
  if (!after_dot) {
    size_t f = e;
    if (f < src_.size() && src_[f] == '.' && f + 1 < src_.size() && is_digit(src_[f + 1]))
      f = scan_digits(f + 1);
    if (f < src_.size() && (src_[f] == 'e' || src_[f] == 'E')) {
      size_t x = f + 1;
      if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
      size_t xe = scan_digits(x);
      if (xe > x) {
        e = xe;
        is_float = true;
      }
    }
    if (!is_float && f > e) {
      e = f;
      is_float = true;
    }
  }
  std::string text;
  for (size_t i = start; i < e; ++i) {
    if (src_[i] != '_') text += src_[i];
  }
  Token t{is_float ? TokType::kFloat : TokType::kInt, line_, text};
  if (is_float) {
    t.float_value = std::strtod(text.c_str(), nullptr);
  } else {
    errno = 0;
    t.int_value = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE) error("integer literal too large: " + text);
  }
  out_.push_back(std::move(t));
  advance_to(e);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One escape sequence after a backslash (Python's unicode-escape): src_[i] is the character
// after the backslash. Appends the decoded text; returns the index after the sequence.
size_t Lexer::decode_escape(size_t i, std::string& out) {
  static constexpr std::pair<char, char> kSimple[] = {
      {'\\', '\\'}, {'\'', '\''}, {'"', '"'},  {'a', '\a'}, {'b', '\b'},
      {'f', '\f'},  {'n', '\n'},  {'r', '\r'}, {'t', '\t'}, {'v', '\v'}};
  char n = src_[i++];
  if (n == '\n') return i;  // line continuation
  for (auto [escape, value] : kSimple) {
    if (n == escape) {
      out += value;
      return i;
    }
  }
  if (n == 'x' || n == 'u' || n == 'U') {
    int digits = n == 'x' ? 2 : n == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (int k = 0; k < digits; ++k) {
      int h = i + k < src_.size() ? hex_value(src_[i + k]) : -1;
      if (h < 0) error("truncated \\" + std::string(1, n) + " escape");
      cp = cp * 16 + static_cast<uint32_t>(h);
    }
    if (cp > 0x10ffff) error("illegal Unicode character");
    utf8_append(out, cp);
    return i + static_cast<size_t>(digits);
  }
  if (n >= '0' && n <= '7') {
    auto cp = static_cast<uint32_t>(n - '0');
    for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k, ++i) {
      cp = cp * 8 + static_cast<uint32_t>(src_[i] - '0');
    }
    utf8_append(out, cp);
    return i;
  }
  out += '\\';  // unknown escapes stay as written
  out += n;
  return i;
}

void Lexer::lex_string(char quote) {
  size_t i = pos_ + 1;
  std::string out;
  while (true) {
    if (i >= src_.size()) error("unexpected char '" + std::string(1, quote) + "'");
    char c = src_[i];
    if (c == quote) break;
    if (c != '\\') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= src_.size()) error("unterminated string");
    i = decode_escape(i + 1, out);
  }
  Token t{TokType::kString, line_, std::move(out)};
  out_.push_back(std::move(t));
  advance_to(i + 1);
}

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  return Lexer(normalize(source)).run();
}

}  // namespace rs::engine::jinja
