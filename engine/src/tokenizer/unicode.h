// Unicode helpers for the tokenizers: lenient UTF-8 decoding (as llama.cpp: an invalid
// byte becomes U+FFFD), code point classes (general category groups, whitespace), NFD base
// letters and lowercase for WordPiece, and the GPT-2 bytes<->unicode mapping.
// Pure functions over immutable tables: any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rs::engine::unicode {

// General category groups: kOther is unassigned (Cn) and separators (Z*); kControl is Cc, Cf,
// Co and Cs, as llama.cpp's CONTROL flag.
enum class CharClass : uint8_t {
  kOther = 0, kLetter = 1, kNumber = 2, kPunct = 3, kMark = 4, kSymbol = 5, kControl = 6,
};

struct CategoryRange {
  uint32_t start;
  uint8_t cls;
};
extern const CategoryRange kCategoryRanges[];
extern const size_t kCategoryRangeCount;

// Generated tables for WordPiece (unicode_nfd_table.cpp, unicode_lower_table.cpp), sorted.
struct NfdRange {
  uint32_t first, last, nfd;  // every code point of first..last decomposes to nfd first
};
extern const NfdRange kNfdRanges[];
extern const size_t kNfdRangesCount;
struct LowerRange {
  uint32_t first, last;
  int32_t delta;  // every code point of first..last lowercases to cp + delta
};
extern const LowerRange kLowerRanges[];
extern const size_t kLowerRangesCount;

constexpr uint32_t kReplacement = 0xFFFD;

// Class of a code point (> U+10FFFF: kOther).
CharClass char_class(uint32_t cp);
// The Unicode White_Space property (\s of the pre-tokenizer regexes).
bool is_whitespace(uint32_t cp);
// The first code point of cp's canonical decomposition (cp itself when it has none), as
// llama.cpp's unicode_cpts_normalize_nfd.
uint32_t nfd_first(uint32_t cp);
// The simple lowercase of cp, as llama.cpp's unicode_tolower.
uint32_t to_lower(uint32_t cp);

// Length of the UTF-8 sequence a lead byte announces (1 for continuation/invalid bytes),
// as llama.cpp's unicode_len_utf8.
inline size_t utf8_len(uint8_t lead) {
  static constexpr size_t kLookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLookup[lead >> 4];
}

// Code points of `text`; every byte that does not start a well-formed sequence (by lead
// and continuation bits only, as llama.cpp) becomes U+FFFD.
std::vector<uint32_t> decode_lenient(std::string_view text);
// Appends the UTF-8 form of cp (> U+10FFFF: U+FFFD).
void append_utf8(std::string& out, uint32_t cp);

// GPT-2 byte-level mapping: byte -> its printable code point's UTF-8 form, and back
// (-1 when the code point is not one of the 256).
const std::string& byte_to_unicode(uint8_t byte);
int unicode_to_byte(uint32_t cp);

// Strict UTF-8: the length of the valid sequence at text[pos] (1-4), 0 when text ends
// inside a valid prefix of a sequence, -k when the k >= 1 bytes at pos are an invalid
// sequence (the maximal subpart to replace by one U+FFFD).
int valid_utf8_prefix(std::string_view text, size_t pos);

}  // namespace rs::engine::unicode
