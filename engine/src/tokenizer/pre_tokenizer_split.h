// Internal to the pre-tokenizers: the text as code points with class flags, and the
// splitting steps. A step refines a list of chunk lengths (in code points) exactly like one
// regex of llama.cpp's unicode_regex_split: its matches and the text between them become
// chunks, and no match crosses a chunk. Pure functions: any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace rs::engine::pretok {

// Flags of one code point as llama.cpp's regexes see them (\p{L}, \p{N}, \p{P}, \p{M},
// \p{S}, \s). kSymbol leaves out ASCII '~': llama.cpp's ASCII list for \p{S} has no '~'.
// Non-ASCII whitespace has no category flag (llama.cpp rewrites it to U+000B).
constexpr uint8_t kLetter = 1, kNumber = 2, kPunct = 4, kSpace = 8, kValid = 16, kMark = 32, kSymbol = 64;

struct Text {
  std::vector<uint32_t> cps;
  std::vector<uint8_t> flags;  // per code point; kValid on every one
};

// Decodes `s` leniently (a bad byte is U+FFFD) and classifies each code point.
Text analyze(std::string_view s);

using Chunks = std::vector<size_t>;

// What a matcher reads of a Text: code points and flags, bounded by the chunk's end.
class TextView {
 public:
  explicit TextView(const Text& t) : t_(t) {}
  uint32_t cp(size_t pos) const { return t_.cps[pos]; }
  // Whether the code point at pos (< end) has any of `f`; false at or past end.
  bool has(size_t pos, size_t end, uint8_t f) const { return pos < end && (t_.flags[pos] & f) != 0; }
  // The end of the run of code points having any of `f` that starts at pos.
  size_t run_end(size_t pos, size_t end, uint8_t f) const {
    while (has(pos, end, f)) ++pos;
    return pos;
  }
  template <typename Pred>
  size_t run_end_if(size_t pos, size_t end, Pred pred) const {
    while (pos < end && pred(t_.cps[pos])) ++pos;
    return pos;
  }

 private:
  const Text& t_;
};

// A regex as a matcher: the length of its match starting at `pos` inside the chunk that ends
// at `end` (ECMAScript semantics: alternatives in order, greedy with backtracking), 0 when
// it does not match there. Every regex used never matches the empty string.
using MatchFn = size_t (*)(const TextView& t, size_t pos, size_t end);

// Like std::regex_iterator over each chunk: every match and every stretch between matches
// becomes a chunk.
Chunks split_matches(const Text& t, const Chunks& chunks, MatchFn match);

// Matchers shared by several pre-tokenizers.
size_t match_newline(const TextView& t, size_t pos, size_t end);       // [\r\n]
size_t match_number(const TextView& t, size_t pos, size_t end);        // \p{N}
size_t match_numbers(const TextView& t, size_t pos, size_t end);       // \p{N}+
size_t match_digit_triple(const TextView& t, size_t pos, size_t end);  // [0-9][0-9][0-9]
size_t match_space_runs(const TextView& t, size_t pos, size_t end);    // \s*[\r\n]+|\s+(?!\S)|\s+

// llama.cpp's hand-written splitters of the GPT-2 and Llama 3 regexes (max_digits: 3 for
// \p{N}{1,3}, 1 for Qwen2's \p{N}).
Chunks split_gpt2(const Text& t, const Chunks& chunks);
Chunks split_llama3(const Text& t, const Chunks& chunks, size_t max_digits);

// The DeepSeek pre-tokenizers' regex lists (pre_tokenizer_deepseek.cpp).
Chunks split_deepseek_llm(const Text& t, Chunks chunks);
Chunks split_deepseek_coder(const Text& t, Chunks chunks);
Chunks split_deepseek_v3(const Text& t, Chunks chunks);

}  // namespace rs::engine::pretok
