// The DeepSeek pre-tokenizers: llama.cpp applies their regex lists with std::regex (no
// hand-written splitter), so each regex here is a matcher with ECMAScript semantics over
// what llama.cpp's regex sees: \p{..} through its collapsed categories, literal ranges
// against code points with non-ASCII whitespace read as U+000B (so never in a range).
#include <algorithm>
#include <iterator>

#include "pre_tokenizer_split.h"

namespace rs::engine::pretok {
namespace {

struct CpRange {
  uint32_t lo, hi;
};

// deepseek-llm's letter class [A-Za-zµÀ-ÖØ-öø-ƺ...𞤀-𞥃]: cased letters of Latin, Greek,
// Cyrillic, Armenian, Georgian, Cherokee, Glagolitic, Coptic, Deseret, Osage, Old
// Hungarian, Warang Citi, Adlam and the letterlike and fullwidth forms, as listed in
// llama.cpp's regex (code points of its UTF-8 source).
constexpr CpRange kDeepseekLetters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},       {0xD8, 0xF6},
    {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},     {0x295, 0x2AF},     {0x370, 0x373},
    {0x376, 0x377},     {0x37B, 0x37D},     {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},
    {0x38C, 0x38C},     {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},   {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},   {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},   {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B},   {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},   {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},   {0x2102, 0x2102},   {0x2107, 0x2107},
    {0x210A, 0x2113},   {0x2115, 0x2115},   {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},   {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},   {0xA680, 0xA69B},   {0xA722, 0xA76F},
    {0xA771, 0xA787},   {0xA78B, 0xA78E},   {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

bool in_ranges(uint32_t cp, const CpRange* begin, const CpRange* end) {
  const CpRange* it = std::upper_bound(begin, end, cp, [](uint32_t v, const CpRange& r) { return v < r.lo; });
  return it != begin && cp <= (it - 1)->hi;
}

bool is_deepseek_letter(uint32_t cp) {
  return in_ranges(cp, std::begin(kDeepseekLetters), std::end(kDeepseekLetters));
}

// deepseek-llm's [!-/:-~！-／：-～‘-‟　-。]: U+3000 is whitespace, so only U+3001-U+3002.
bool is_deepseek_punct(uint32_t cp) {
  return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x7E) || (cp >= 0xFF01 && cp <= 0xFF0F) ||
         (cp >= 0xFF1A && cp <= 0xFF5E) || (cp >= 0x2018 && cp <= 0x201F) || (cp >= 0x3001 && cp <= 0x3002);
}

// [一-龥ࠀ-一가-퟿]: U+0800-U+9FA5 and U+AC00-U+D7FF, less the whitespace in them.
bool is_deepseek_cjk(const TextView& t, size_t pos, size_t end) {
  const uint32_t cp = t.cp(pos);
  return !t.has(pos, end, kSpace) && ((cp >= 0x800 && cp <= 0x9FA5) || (cp >= 0xAC00 && cp <= 0xD7FF));
}

// [一-龥぀-ゟ゠-ヿ]: CJK ideographs to U+9FA5, hiragana and katakana.
bool is_v3_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x30FF);
}

// \s?X+ where X is a code point predicate: one optional whitespace, then a run of X.
template <typename Pred>
size_t match_space_then_run(const TextView& t, size_t pos, size_t end, Pred x) {
  size_t p = pos;
  if (t.has(p, end, kSpace) && p + 1 < end && x(p + 1)) {
    ++p;
  } else if (!x(p)) {
    return 0;
  }
  while (p < end && x(p)) ++p;
  return p - pos;
}

size_t match_cjk_run(const TextView& t, size_t pos, size_t end) {
  size_t p = pos;
  while (p < end && is_deepseek_cjk(t, p, end)) ++p;
  return p - pos;
}

size_t match_llm_letters(const TextView& t, size_t pos, size_t end) {
  return match_space_then_run(t, pos, end, [&](size_t p) { return is_deepseek_letter(t.cp(p)); });
}

size_t match_llm_punct(const TextView& t, size_t pos, size_t end) {
  return match_space_then_run(t, pos, end, [&](size_t p) { return is_deepseek_punct(t.cp(p)); });
}

// \s+$: the whitespace that ends the chunk.
size_t match_trailing_space(const TextView& t, size_t pos, size_t end) {
  const size_t q = t.run_end(pos, end, kSpace);
  return (q > pos && q == end) ? q - pos : 0;
}

size_t match_coder_letters(const TextView& t, size_t pos, size_t end) {
  return match_space_then_run(t, pos, end, [&](size_t p) { return t.has(p, end, kLetter); });
}

size_t match_coder_punct(const TextView& t, size_t pos, size_t end) {
  return match_space_then_run(t, pos, end, [&](size_t p) { return t.has(p, end, kPunct); });
}

// \p{N}{1,3}
size_t match_numbers_upto3(const TextView& t, size_t pos, size_t end) {
  return std::min<size_t>(t.run_end(pos, end, kNumber) - pos, 3);
}

size_t match_v3_cjk(const TextView& t, size_t pos, size_t end) {
  return t.run_end_if(pos, end, is_v3_cjk) - pos;
}

bool is_ascii_alpha(uint32_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]: every ASCII punctuation and symbol character.
bool is_ascii_punct(uint32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

// [ASCII punct][A-Za-z]+ | [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ | ?[\p{P}\p{S}]+[\r\n]*
//   | \s*[\r\n]+ | \s+(?!\S) | \s+
size_t match_v3_words(const TextView& t, size_t pos, size_t end) {
  const uint32_t c = t.cp(pos);
  if (is_ascii_punct(c) && pos + 1 < end && is_ascii_alpha(t.cp(pos + 1))) {
    return t.run_end_if(pos + 1, end, is_ascii_alpha) - pos;
  }
  constexpr uint8_t kLetterMark = kLetter | kMark;
  const bool crlf = c == '\r' || c == '\n';
  if (!crlf && !t.has(pos, end, kLetter | kPunct | kSymbol) && t.has(pos + 1, end, kLetterMark)) {
    return t.run_end(pos + 1, end, kLetterMark) - pos;
  }
  if (t.has(pos, end, kLetterMark)) return t.run_end(pos, end, kLetterMark) - pos;
  constexpr uint8_t kPunctSymbol = kPunct | kSymbol;
  const size_t p = (c == ' ' && t.has(pos + 1, end, kPunctSymbol)) ? pos + 1 : pos;
  if (t.has(p, end, kPunctSymbol)) {
    auto is_crlf = [](uint32_t x) { return x == '\r' || x == '\n'; };
    return t.run_end_if(t.run_end(p, end, kPunctSymbol), end, is_crlf) - pos;
  }
  return match_space_runs(t, pos, end);
}

}  // namespace

Chunks split_deepseek_llm(const Text& t, Chunks chunks) {
  for (MatchFn m : {match_newline, match_llm_letters, match_llm_punct, match_trailing_space, match_cjk_run,
                    match_numbers}) {
    chunks = split_matches(t, chunks, m);
  }
  return chunks;
}

Chunks split_deepseek_coder(const Text& t, Chunks chunks) {
  for (MatchFn m : {match_newline, match_coder_letters, match_coder_punct, match_cjk_run, match_number}) {
    chunks = split_matches(t, chunks, m);
  }
  return chunks;
}

Chunks split_deepseek_v3(const Text& t, Chunks chunks) {
  for (MatchFn m : {match_numbers_upto3, match_v3_cjk, match_v3_words}) chunks = split_matches(t, chunks, m);
  return chunks;
}

}  // namespace rs::engine::pretok
