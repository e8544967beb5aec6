// Unicode helpers: class lookup by binary search over generated ranges, lenient UTF-8
// decoding and the GPT-2 bytes<->unicode tables.
#include "unicode.h"

#include <algorithm>
#include <array>

namespace rs::engine::unicode {

CharClass char_class(uint32_t cp) {
  if (cp > 0x10FFFF) return CharClass::kOther;
  const CategoryRange* begin = kCategoryRanges;
  const CategoryRange* end = kCategoryRanges + kCategoryRangeCount;
  const CategoryRange* it =
      std::upper_bound(begin, end, cp, [](uint32_t v, const CategoryRange& r) { return v < r.start; });
  return static_cast<CharClass>((it - 1)->cls);  // the first range starts at 0
}

bool is_whitespace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

uint32_t nfd_first(uint32_t cp) {
  const NfdRange* begin = kNfdRanges;
  const NfdRange* end = kNfdRanges + kNfdRangesCount;
  const NfdRange* it = std::upper_bound(begin, end, cp, [](uint32_t v, const NfdRange& r) { return v < r.first; });
  return (it != begin && cp <= (it - 1)->last) ? (it - 1)->nfd : cp;
}

uint32_t to_lower(uint32_t cp) {
  const LowerRange* begin = kLowerRanges;
  const LowerRange* end = kLowerRanges + kLowerRangesCount;
  const LowerRange* it =
      std::upper_bound(begin, end, cp, [](uint32_t v, const LowerRange& r) { return v < r.first; });
  if (it == begin || cp > (it - 1)->last) return cp;
  return static_cast<uint32_t>(static_cast<int64_t>(cp) + (it - 1)->delta);
}

std::vector<uint32_t> decode_lenient(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  auto cont = [&](size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
  while (i < n) {
    const uint8_t b = s[i];
    if (b < 0x80) {
      out.push_back(b);
      i += 1;
    } else if ((b & 0xE0) == 0xC0 && cont(1)) {
      out.push_back((uint32_t{b & 0x1Fu} << 6) | (s[i + 1] & 0x3Fu));
      i += 2;
    } else if ((b & 0xF0) == 0xE0 && cont(1) && cont(2)) {
      out.push_back((uint32_t{b & 0x0Fu} << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu));
      i += 3;
    } else if ((b & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
      out.push_back((uint32_t{b & 0x07u} << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) |
                    (s[i + 3] & 0x3Fu));
      i += 4;
    } else {
      out.push_back(kReplacement);
      i += 1;
    }
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF) cp = kReplacement;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// GPT-2: printable Latin-1 bytes map to themselves; the other 68 bytes, in order, to
// U+0100, U+0101, ...
struct ByteTables {
  std::array<std::string, 256> to_unicode;
  std::array<int16_t, 512> from_cp{};  // every mapped code point is < 0x200

  ByteTables() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(to_unicode[static_cast<size_t>(b)], cp);
      from_cp[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteTables& byte_tables() {
  static const ByteTables tables;
  return tables;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t byte) { return byte_tables().to_unicode[byte]; }

int unicode_to_byte(uint32_t cp) { return cp < 512 ? byte_tables().from_cp[cp] : -1; }

int valid_utf8_prefix(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  const uint8_t b = s[pos];
  if (b < 0x80) return 1;
  int len = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    if (pos + static_cast<size_t>(k) >= n) return 0;
    const uint8_t c = s[pos + static_cast<size_t>(k)];
    const uint8_t l = k == 1 ? lo : 0x80;
    const uint8_t h = k == 1 ? hi : 0xBF;
    if (c < l || c > h) return -k;  // the maximal valid subpart is k bytes long
  }
  return len;
}

}  // namespace rs::engine::unicode
