// The machinery of the pre-tokenizers: code point classes, the regex-iterator-like split
// over chunks, matchers shared by several regex lists, and llama.cpp's hand-written
// splitters for the GPT-2 and Llama 3 regexes (which it uses instead of std::regex).
#include "pre_tokenizer_split.h"

#include <algorithm>

#include "unicode.h"

namespace rs::engine::pretok {
namespace {

// One chunk [ini, end) being split: flags outside the chunk read as 0 (llama.cpp's
// OUT_OF_RANGE), and add(end) closes the piece that ends at `end`.
class ChunkSplitter {
 public:
  ChunkSplitter(const Text& t, size_t ini, size_t end, std::vector<size_t>& out)
      : t_(t), ini_(ini), end_(end), prev_(ini), out_(out) {}

  uint32_t cp(size_t pos) const { return pos < end_ ? t_.cps[pos] : 0xFFFFFFFFu; }
  uint8_t flags(size_t pos) const { return pos >= ini_ && pos < end_ ? t_.flags[pos] : 0; }
  size_t end() const { return end_; }
  void add(size_t pos) {
    if (pos > prev_) out_.push_back(pos - prev_);
    prev_ = pos;
  }

 private:
  const Text& t_;
  size_t ini_, end_, prev_;
  std::vector<size_t>& out_;
};

uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// 's|'t|'re|'ve|'m|'ll|'d at pos: the match length (0 when none).
size_t contraction_len(const ChunkSplitter& s, size_t pos, bool ignore_case) {
  if (s.cp(pos) != '\'' || pos + 1 >= s.end()) return 0;
  auto low = [&](uint32_t c) { return ignore_case ? ascii_lower(c) : c; };
  const uint32_t a = low(s.cp(pos + 1));
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 >= s.end()) return 0;
  const uint32_t b = low(s.cp(pos + 2));
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// \s+(?!\S)|\s+ (and, with newline_runs, \s*[\r\n]+ first) at pos: the new position.
size_t whitespace_end(const ChunkSplitter& s, size_t pos, bool newline_runs) {
  size_t n = 0;
  size_t last_newline_end = 0;
  while (s.flags(pos + n) & kSpace) {
    const uint32_t c = s.cp(pos + n);
    if (c == '\r' || c == '\n') last_newline_end = pos + n + 1;
    ++n;
  }
  if (newline_runs && last_newline_end > 0) return last_newline_end;
  if (n > 1 && pos + n < s.end()) return pos + n - 1;
  if (n > 0) return pos + n;
  return pos + 1;  // no match: a single code point
}

bool is_other(uint8_t f) { return (f & (kSpace | kLetter | kNumber)) == 0 && (f & kValid) != 0; }

void split_gpt2_chunk(ChunkSplitter& s, size_t ini) {
  for (size_t pos = ini; pos < s.end();) {
    if (size_t n = contraction_len(s, pos, false); n > 0) {
      pos += n;
      s.add(pos);
      continue;
    }
    const uint32_t c = s.cp(pos);
    const uint8_t f2 = c == ' ' ? s.flags(pos + 1) : s.flags(pos);
    const uint8_t want = (f2 & kLetter) ? kLetter : (f2 & kNumber) ? kNumber : 0;
    if (want != 0) {  // ' ?\p{L}+' or ' ?\p{N}+'
      pos += (c == ' ');
      while (s.flags(pos) & want) ++pos;
      s.add(pos);
      continue;
    }
    if (is_other(f2)) {  // ' ?[^\s\p{L}\p{N}]+'
      pos += (c == ' ');
      while (is_other(s.flags(pos))) ++pos;
      s.add(pos);
      continue;
    }
    pos = whitespace_end(s, pos, false);
    s.add(pos);
  }
}

void split_llama3_chunk(ChunkSplitter& s, size_t ini, size_t max_digits) {
  for (size_t pos = ini; pos < s.end();) {
    if (size_t n = contraction_len(s, pos, true); n > 0) {
      pos += n;
      s.add(pos);
      continue;
    }
    const uint32_t c = s.cp(pos);
    const uint8_t f = s.flags(pos);
    if (!(c == '\r' || c == '\n' || (f & kNumber)) && ((f & kLetter) || (s.flags(pos + 1) & kLetter))) {
      ++pos;  // '[^\r\n\p{L}\p{N}]?\p{L}+'
      while (s.flags(pos) & kLetter) ++pos;
      s.add(pos);
      continue;
    }
    if (f & kNumber) {  // '\p{N}{1,max}'
      size_t start = pos;
      while (s.flags(pos) & kNumber) {
        if (++pos - start >= max_digits) {
          s.add(pos);
          start = pos;
        }
      }
      s.add(pos);
      continue;
    }
    const uint8_t f2 = c == ' ' ? s.flags(pos + 1) : f;
    if ((f2 & (kSpace | kLetter | kNumber)) == 0) {  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
      pos += (c == ' ');
      while (is_other(s.flags(pos))) ++pos;
      while (s.cp(pos) == '\r' || s.cp(pos) == '\n') ++pos;
      s.add(pos);
      continue;
    }
    pos = whitespace_end(s, pos, true);
    s.add(pos);
  }
}

template <typename Fn>
std::vector<size_t> split_each(const Text& t, const std::vector<size_t>& chunks, Fn fn) {
  std::vector<size_t> out;
  out.reserve(chunks.size());
  size_t start = 0;
  for (size_t len : chunks) {
    ChunkSplitter s(t, start, start + len, out);
    fn(s, start);
    start += len;
  }
  return out;
}

bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

}  // namespace

Text analyze(std::string_view s) {
  Text t;
  t.cps = unicode::decode_lenient(s);
  t.flags.resize(t.cps.size());
  for (size_t i = 0; i < t.cps.size(); ++i) {
    const uint32_t cp = t.cps[i];
    uint8_t f = kValid;
    if (unicode::is_whitespace(cp)) {
      f |= kSpace;
    } else {
      switch (unicode::char_class(cp)) {
        case unicode::CharClass::kLetter: f |= kLetter; break;
        case unicode::CharClass::kNumber: f |= kNumber; break;
        case unicode::CharClass::kPunct: f |= kPunct; break;
        case unicode::CharClass::kMark: f |= kMark; break;
        case unicode::CharClass::kSymbol: f |= (cp == '~' ? 0 : kSymbol); break;
        default: break;
      }
    }
    t.flags[i] = f;
  }
  return t;
}

Chunks split_matches(const Text& t, const Chunks& chunks, MatchFn match) {
  const TextView view(t);
  Chunks out;
  out.reserve(chunks.size());
  size_t start = 0;
  for (size_t len : chunks) {
    const size_t end = start + len;
    size_t prev = start;
    for (size_t pos = start; pos < end;) {
      const size_t n = match(view, pos, end);
      if (n == 0) {
        ++pos;
        continue;
      }
      if (pos > prev) out.push_back(pos - prev);
      out.push_back(n);
      pos += n;
      prev = pos;
    }
    if (end > prev) out.push_back(end - prev);
    start = end;
  }
  return out;
}

size_t match_newline(const TextView& t, size_t pos, size_t end) { return is_crlf(t.cp(pos)) ? 1 : 0; }

size_t match_number(const TextView& t, size_t pos, size_t end) { return t.has(pos, end, kNumber) ? 1 : 0; }

size_t match_numbers(const TextView& t, size_t pos, size_t end) { return t.run_end(pos, end, kNumber) - pos; }

size_t match_digit_triple(const TextView& t, size_t pos, size_t end) {
  auto digit = [](uint32_t c) { return c >= '0' && c <= '9'; };
  return t.run_end_if(pos, std::min(end, pos + 3), digit) == pos + 3 ? 3 : 0;
}

size_t match_space_runs(const TextView& t, size_t pos, size_t end) {
  size_t q = pos;
  size_t after_newline = 0;
  for (; t.has(q, end, kSpace); ++q) {
    if (is_crlf(t.cp(q))) after_newline = q + 1;
  }
  if (after_newline > 0) return after_newline - pos;  // \s*[\r\n]+
  if (q - pos > 1 && q < end) return q - 1 - pos;     // \s+(?!\S): leave one before a non-space
  return q - pos;                                     // \s+ (or no match)
}

Chunks split_gpt2(const Text& t, const Chunks& chunks) { return split_each(t, chunks, split_gpt2_chunk); }

Chunks split_llama3(const Text& t, const Chunks& chunks, size_t max_digits) {
  return split_each(t, chunks, [max_digits](ChunkSplitter& s, size_t ini) { split_llama3_chunk(s, ini, max_digits); });
}

}  // namespace rs::engine::pretok
