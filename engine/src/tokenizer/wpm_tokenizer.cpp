// WordPiece tokenizer ("bert"), matching llama.cpp's llm_tokenizer_wpm (and so the
// Hugging Face BertTokenizer of an uncased model): normalize and split into words, then
// cover each word greedily, longest token first.
#include <algorithm>

#include "tokenizer_impl.h"
#include "unicode.h"

namespace rs::engine {
namespace {

constexpr std::string_view kWordPrefix = "\xE2\x96\x81";  // U+2581

// CJK ideographs, each its own word (the ranges of BERT's _is_chinese_char).
bool is_cjk_ideograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

struct Normalizer {
  bool lowercase = true;
  bool strip_accents = true;
};

// The words of `text`: NFD base letters, lowercased (as `norm` says); whitespace separates
// words; control characters, U+0000, U+FFFD and (stripping accents) combining marks vanish;
// punctuation, ASCII symbols and CJK ideographs are words of one code point.
std::vector<std::string> wpm_words(std::string_view text, Normalizer norm) {
  using unicode::CharClass;
  std::vector<std::string> words(1);
  auto finish_word = [&] {
    if (!words.back().empty()) words.emplace_back();
  };
  for (uint32_t cp : unicode::decode_lenient(text)) {
    if (norm.strip_accents) cp = unicode::nfd_first(cp);
    if (unicode::is_whitespace(cp)) {
      finish_word();
      continue;
    }
    const CharClass cls = unicode::char_class(cp);
    if (cp == 0 || cp == unicode::kReplacement || cls == CharClass::kControl) continue;
    if (norm.strip_accents && cls == CharClass::kMark) continue;
    const bool alone = cls == CharClass::kPunct || (cp < 0x7F && cls == CharClass::kSymbol) || is_cjk_ideograph(cp);
    if (alone) finish_word();
    unicode::append_utf8(words.back(), norm.lowercase ? unicode::to_lower(cp) : cp);
    if (alone) words.emplace_back();
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

std::string unescape_word_prefix(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kWordPrefix.size(), kWordPrefix) == 0) {
      out += ' ';
      i += kWordPrefix.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> WpmTokenizer::create(VocabData v) {
  auto tok = std::unique_ptr<WpmTokenizer>(new WpmTokenizer());
  tok->sep_ = v.sep;
  tok->add_sep_ = v.add_sep;
  tok->lowercase_ = v.lowercase;
  tok->strip_accents_ = v.strip_accents;
  tok->init_vocab(v);
  tok->pieces_.resize(tok->tokens_.size());
  for (size_t i = 0; i < tok->tokens_.size(); ++i) {
    tok->max_token_len_ = std::max(tok->max_token_len_, tok->tokens_[i].size());
    const TokenType type = tok->types_[i];
    if (type == TokenType::kNormal) {
      tok->pieces_[i] = unescape_word_prefix(tok->tokens_[i]);
    } else if (type == TokenType::kUserDefined) {
      tok->pieces_[i] = tok->tokens_[i];
    }
  }
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

std::vector<int32_t> WpmTokenizer::encode_impl(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  for (const Fragment& f : partition(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      continue;
    }
    for (const std::string& word : wpm_words(f.text, {lowercase_, strip_accents_})) encode_word(word, out);
  }
  if (add_special && add_sep_ && sep_ >= 0) out.push_back(sep_);
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

void WpmTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
  const std::string prefixed = std::string(kWordPrefix) + word;
  const std::string_view w = prefixed;
  const size_t first = out.size();
  for (size_t i = 0; i < w.size();) {
    size_t j = std::min(w.size(), i + max_token_len_);
    int32_t id = -1;
    for (; j > i; --j) {
      if ((id = find_token(w.substr(i, j - i))) >= 0) break;
    }
    if (id < 0) {  // a piece no token covers: the whole word is unknown
      out.resize(first);
      break;
    }
    out.push_back(id);
    i = j;
  }
  if (out.size() == first && unk_ >= 0) out.push_back(unk_);
}

}  // namespace rs::engine
