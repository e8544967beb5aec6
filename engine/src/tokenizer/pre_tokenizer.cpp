// Hand-written equivalents of the pre-tokenizer regexes llama.cpp uses for byte-level BPE.
// Each splitter refines a list of chunk lengths (in code points), exactly like one regex
// of llama.cpp's unicode_regex_split: matches and the text between them both become chunks.
#include "pre_tokenizer.h"

#include <cstdint>
#include <string>

#include "unicode.h"

namespace rs::engine {
namespace {

using unicode::CharClass;

constexpr uint8_t kLetter = 1, kNumber = 2, kPunct = 4, kSpace = 8, kValid = 16;

struct Text {
  std::vector<uint32_t> cps;
  std::vector<uint8_t> flags;  // per code point; kValid on every one
};

Text analyze(std::string_view s) {
  Text t;
  t.cps = unicode::decode_lenient(s);
  t.flags.resize(t.cps.size());
  for (size_t i = 0; i < t.cps.size(); ++i) {
    const uint32_t cp = t.cps[i];
    uint8_t f = kValid;
    switch (unicode::char_class(cp)) {
      case CharClass::kLetter: f |= kLetter; break;
      case CharClass::kNumber: f |= kNumber; break;
      case CharClass::kPunct: f |= kPunct; break;
      default: break;
    }
    if (unicode::is_whitespace(cp)) f |= kSpace;
    t.flags[i] = f;
  }
  return t;
}

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

// Splits each chunk into maximal runs of code points with `pred` and the text between.
template <typename Pred>
std::vector<size_t> split_runs(const std::vector<size_t>& chunks, Pred pred) {
  std::vector<size_t> out;
  size_t start = 0;
  for (size_t len : chunks) {
    size_t run = start;
    for (size_t i = start + 1; i <= start + len; ++i) {
      if (i == start + len || pred(i) != pred(i - 1)) {
        out.push_back(i - run);
        run = i;
      }
    }
    start += len;
  }
  return out;
}

// '[0-9][0-9][0-9]': leftmost non-overlapping ASCII digit triples and the text between.
std::vector<size_t> split_digit_triples(const Text& t, const std::vector<size_t>& chunks) {
  std::vector<size_t> out;
  size_t start = 0;
  auto digit = [&](size_t i) { return t.cps[i] >= '0' && t.cps[i] <= '9'; };
  for (size_t len : chunks) {
    const size_t end = start + len;
    size_t prev = start;
    for (size_t i = start; i + 3 <= end;) {
      if (digit(i) && digit(i + 1) && digit(i + 2)) {
        if (i > prev) out.push_back(i - prev);
        out.push_back(3);
        i += 3;
        prev = i;
      } else {
        ++i;
      }
    }
    if (end > prev) out.push_back(end - prev);
    start = end;
  }
  return out;
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

bool is_default_punct(const Text& t, size_t i) {
  if (t.flags[i] & kPunct) return true;
  switch (t.cps[i]) {
    case '$': case '+': case '<': case '=': case '>': case '^': case '~': case '|': return true;
    default: return false;
  }
}

}  // namespace

Result<PreTokenizerInfo> pre_tokenizer_from_name(std::string_view name) {
  PreTokenizerInfo info;
  if (name.empty() || name == "default") return info;
  for (std::string_view n : {"gpt-2", "phi-2", "roberta-bpe", "mpt", "olmo", "jais", "gigachat", "jina-es",
                             "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code"}) {
    if (name == n) return PreTokenizerInfo{PreTokenizerKind::kGpt2, false, false};
  }
  for (std::string_view n : {"llama3", "llama-v3", "llama-bpe", "falcon3"}) {
    if (name == n) return PreTokenizerInfo{PreTokenizerKind::kLlama3, true, true};
  }
  for (std::string_view n : {"dbrx", "smaug-bpe", "chatglm-bpe"}) {
    if (name == n) return PreTokenizerInfo{PreTokenizerKind::kLlama3, false, false};
  }
  for (std::string_view n : {"qwen2", "stablelm2", "megrez"}) {
    if (name == n) return PreTokenizerInfo{PreTokenizerKind::kQwen2, false, false};
  }
  return unsupported("unknown pre-tokenizer '" + std::string(name) + "' (tokenizer.ggml.pre)");
}

std::vector<std::string> pre_tokenize(PreTokenizerKind kind, std::string_view text) {
  const Text t = analyze(text);
  std::vector<size_t> chunks;
  if (!t.cps.empty()) chunks.push_back(t.cps.size());
  switch (kind) {
    case PreTokenizerKind::kGpt2:
      chunks = split_each(t, chunks, split_gpt2_chunk);
      break;
    case PreTokenizerKind::kLlama3:
      chunks = split_each(t, chunks, [](ChunkSplitter& s, size_t ini) { split_llama3_chunk(s, ini, 3); });
      break;
    case PreTokenizerKind::kQwen2:
      chunks = split_each(t, chunks, [](ChunkSplitter& s, size_t ini) { split_llama3_chunk(s, ini, 1); });
      break;
    case PreTokenizerKind::kDefault:
      chunks = split_runs(chunks, [&](size_t i) { return is_default_punct(t, i); });
      chunks = split_each(t, chunks, split_gpt2_chunk);
      chunks = split_runs(chunks, [&](size_t i) { return (t.flags[i] & kNumber) != 0; });
      chunks = split_digit_triples(t, chunks);
      break;
  }
  std::vector<std::string> words;
  words.reserve(chunks.size());
  size_t start = 0;
  for (size_t len : chunks) {
    std::string w;
    for (size_t i = start; i < start + len; ++i) unicode::append_utf8(w, t.cps[i]);
    words.push_back(std::move(w));
    start += len;
  }
  return words;
}

}  // namespace rs::engine
