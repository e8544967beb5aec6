// make_byte_level_vocab: a small deterministic GPT-2-style vocabulary for synthetic models.
// Merges are learnt at call time by plain BPE training over a built-in English sample:
// repeatedly merge the most frequent adjacent pair (ties: the smallest pair in byte order)
// whose concatenation is not a token yet, until kMaxMerges or no pair is left.
#include <cstdint>
#include <map>
#include <tuple>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "pre_tokenizer.h"
#include "rs/engine/tokenizer.h"
#include "unicode.h"

namespace rs::engine {
namespace {

constexpr int kMaxMerges = 320;

constexpr std::string_view kSample =
    "Once upon a time, there was a little girl who lived in a small house near the forest. "
    "Every morning she went out to play with her friends, and every evening she came back "
    "home to eat dinner with her mother and father. One day she found a strange stone on the "
    "path. It was shining in the sun, and when she picked it up she heard a quiet voice. "
    "\"Hello,\" said the stone. \"I have been waiting for someone like you.\" The girl was "
    "surprised, but she was not afraid. She asked the stone what it wanted, and it told her "
    "that it needed to go back to the river where it had come from. So they walked together "
    "through the trees, talking about the weather, the birds and the people of the town. "
    "When they reached the water, the stone thanked her and said that she could always come "
    "back and visit. The girl smiled, and then she went home to tell her family what had "
    "happened. They did not believe her at first, but later they saw that she was telling "
    "the truth. The system is running on the server and the model is generating the next "
    "token for the request. This is an example of the text that we are using for the test, "
    "and it should have enough of the common words in the English language: the, of, and, "
    "to, in, is, that, for, it, as, was, with, be, by, on, not, he, this, are, or, his, from, "
    "at, which, but, have, an, had, they, you, were, their, one, all, we, can, her, has, "
    "there, been, if, more, when, will, would, who, so, no, what, about, out, up, into, "
    "then, them, some, time, could, other, only, new, these, two, may, first, any, like, "
    "now, my, such, make, over, our, even, most, me, state, after, also, made, many, did, "
    "must, before, back, see, through, way, where, get, much, go, well, your, know, should, "
    "down, work, year, because, come, people, just, say, each, those, take, day, good, how, "
    "long, very, being, here, between, both, under, never, same, another, know, while, last, "
    "might, us, great, old, year, off, come, since, against, go, came, right, used, take, "
    "three. Numbers like 1, 2, 3, 10, 100, 2024 and 3.14 appear too.\n\n"
    "def main():\n    return 0\n";

// Training state: token texts so far and the sample's distinct words as token ids.
struct Trainer {
  std::vector<std::string> texts;
  std::unordered_set<std::string> known;
  std::vector<std::pair<std::vector<int32_t>, int>> words;  // symbols, occurrences

  int32_t add(std::string text) {
    known.insert(text);
    texts.push_back(std::move(text));
    return static_cast<int32_t>(texts.size()) - 1;
  }
};

void load_sample(Trainer& t) {
  std::map<std::string, int> counts;  // ordered: deterministic
  for (const std::string& w : pre_tokenize(PreTokenizerKind::kGpt2, kSample)) ++counts[w];
  for (const auto& [w, n] : counts) {
    std::vector<int32_t> syms;
    for (char c : w) syms.push_back(static_cast<uint8_t>(c));
    t.words.emplace_back(std::move(syms), n);
  }
}

// The most frequent adjacent pair whose concatenation is not a token yet (ties: the smallest
// pair of texts); {-1, -1} when there is none.
std::pair<int32_t, int32_t> best_pair(const Trainer& t) {
  std::unordered_map<uint64_t, int> counts;
  for (const auto& [syms, n] : t.words) {
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      counts[(static_cast<uint64_t>(syms[i]) << 32) | static_cast<uint32_t>(syms[i + 1])] += n;
    }
  }
  std::pair<int32_t, int32_t> best{-1, -1};
  int best_n = 0;
  for (const auto& [key, n] : counts) {
    const auto a = static_cast<int32_t>(key >> 32), b = static_cast<int32_t>(key & 0xFFFFFFFFu);
    const auto& ta = t.texts[static_cast<size_t>(a)];
    const auto& tb = t.texts[static_cast<size_t>(b)];
    if (n < best_n) continue;
    if (n == best_n && std::tie(ta, tb) >= std::tie(t.texts[static_cast<size_t>(best.first)],
                                                     t.texts[static_cast<size_t>(best.second)])) {
      continue;
    }
    if (t.known.count(ta + tb) != 0) continue;
    best = {a, b};
    best_n = n;
  }
  return best;
}

void apply_merge(Trainer& t, std::pair<int32_t, int32_t> pair, int32_t merged) {
  for (auto& [syms, n] : t.words) {
    size_t out = 0;
    for (size_t i = 0; i < syms.size(); ++i) {
      if (i + 1 < syms.size() && syms[i] == pair.first && syms[i + 1] == pair.second) {
        syms[out++] = merged;
        ++i;
      } else {
        syms[out++] = syms[i];
      }
    }
    syms.resize(out);
  }
}

}  // namespace

ByteLevelVocab make_byte_level_vocab() {
  Trainer t;
  for (int b = 0; b < 256; ++b) t.add(unicode::byte_to_unicode(static_cast<uint8_t>(b)));
  load_sample(t);
  ByteLevelVocab v;
  for (int m = 0; m < kMaxMerges; ++m) {
    const auto pair = best_pair(t);
    if (pair.first < 0) break;
    const std::string& a = t.texts[static_cast<size_t>(pair.first)];
    const std::string& b = t.texts[static_cast<size_t>(pair.second)];
    v.merges.push_back(a + " " + b);
    apply_merge(t, pair, t.add(a + b));
  }
  v.tokens = std::move(t.texts);
  v.token_types.assign(v.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  v.tokens.push_back("<|endoftext|>");
  v.token_types.push_back(static_cast<int32_t>(TokenType::kControl));
  v.eos_id = static_cast<int32_t>(v.tokens.size()) - 1;
  v.bos_id = v.eos_id;
  for (const char* chatml : {"<|im_start|>", "<|im_end|>"}) {  // ChatML's turn markers
    v.tokens.push_back(chatml);
    v.token_types.push_back(static_cast<int32_t>(TokenType::kControl));
  }
  return v;
}

}  // namespace rs::engine
