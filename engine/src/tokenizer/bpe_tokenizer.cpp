// Byte-level BPE tokenizer ("gpt2"), matching llama.cpp's llm_tokenizer_bpe: the
// pre-tokenizer splits the text into words, each word's bytes are mapped to GPT-2's
// printable code points, then the adjacent pair with the lowest merge rank is merged
// (leftmost first on a tie) until no ranked pair remains.
#include <algorithm>
#include <queue>

#include "tokenizer_impl.h"
#include "unicode.h"

namespace rs::engine {
namespace {

struct Bigram {
  int32_t left, right;
  int32_t rank;
  uint32_t size;
};

// Lowest rank first; on a tie, the leftmost pair.
struct BigramGreater {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
  }
};

// A token's bytes: each code point of its text back through GPT-2's mapping, as
// llama.cpp's llama_decode_text (an unmapped code point is spelled out).
std::string decode_byte_level(const std::string& text) {
  std::string out;
  for (uint32_t cp : unicode::decode_lenient(text)) {
    const int b = unicode::unicode_to_byte(cp);
    if (b >= 0) {
      out += static_cast<char>(b);
      continue;
    }
    std::string utf8;
    unicode::append_utf8(utf8, cp);
    out += "[UNK_BYTE_0x";
    static const char kHex[] = "0123456789abcdef";
    for (unsigned char c : utf8) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    out += text + "]";
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> BpeTokenizer::create(VocabData v) {
  auto tok = std::unique_ptr<BpeTokenizer>(new BpeTokenizer());
  tok->pre_name_ = v.pre_name;
  tok->pre_ = v.pre;
  tok->init_vocab(v);
  RS_RETURN_IF_ERROR(tok->load_merges(v.merges));
  tok->pieces_.resize(tok->tokens_.size());
  for (size_t i = 0; i < tok->tokens_.size(); ++i) {
    const TokenType type = tok->types_[i];
    if (type == TokenType::kNormal) {
      tok->pieces_[i] = decode_byte_level(tok->tokens_[i]);
    } else if (type == TokenType::kUserDefined) {
      tok->pieces_[i] = tok->tokens_[i];
    }
  }
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

Status BpeTokenizer::load_merges(const std::vector<std::string_view>& merges) {
  id_pair_rank_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string_view m = merges[i];
    const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
    if (sp == std::string_view::npos) {
      return corrupt("merge " + std::to_string(i) + " has no space: '" + std::string(m) + "'");
    }
    const int32_t a = find_token(m.substr(0, sp));
    const int32_t b = find_token(m.substr(sp + 1));
    const auto rank = static_cast<int32_t>(i);
    if (a >= 0 && b >= 0) {
      id_pair_rank_.insert_first(a, b, rank);  // the first occurrence wins
    } else {
      text_pair_rank_.emplace(std::string(m), rank);
    }
  }
  return Status();
}

int32_t BpeTokenizer::rank(const std::string& word, const Symbol& a, const Symbol& b) const {
  if (a.id >= 0 && b.id >= 0) {
    const int32_t r = id_pair_rank_.find(a.id, b.id);
    if (r >= 0) return r;
  }
  if (text_pair_rank_.empty() || (a.id >= 0 && b.id >= 0)) return -1;
  const std::string_view left = std::string_view(word).substr(a.start, a.n);
  if (left.find(' ', 1) != std::string_view::npos) return -1;  // no merge splits there
  std::string key(left);
  key += ' ';
  key.append(word, b.start, b.n);
  auto it = text_pair_rank_.find(key);
  return it == text_pair_rank_.end() ? -1 : it->second;
}

std::vector<int32_t> BpeTokenizer::encode_impl(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  std::vector<Symbol> syms;
  std::string encoded;
  for (const Fragment& f : partition(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      continue;
    }
    for (const std::string& word : pre_tokenize(pre_.kind, f.text)) {
      encoded.clear();
      for (char c : word) encoded += unicode::byte_to_unicode(static_cast<uint8_t>(c));
      encode_word(encoded, syms, out);
    }
  }
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<Symbol>& syms,
                               std::vector<int32_t>& out) const {
  if (pre_.ignore_merges) {
    if (const int32_t id = find_token(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  syms.clear();
  for (size_t offs = 0; offs < word.size();) {
    const auto n = static_cast<uint32_t>(
        std::min(unicode::utf8_len(static_cast<uint8_t>(word[offs])), word.size() - offs));
    const auto idx = static_cast<int32_t>(syms.size());
    const int32_t id = find_token(std::string_view(word).substr(offs, n));
    syms.push_back({idx - 1, offs + n == word.size() ? -1 : idx + 1, static_cast<uint32_t>(offs), n, id});
    offs += n;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, BigramGreater> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = syms[static_cast<size_t>(left)];
    const Symbol& r = syms[static_cast<size_t>(right)];
    const int32_t rk = rank(word, l, r);
    if (rk >= 0) queue.push({left, right, rk, l.n + r.n});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[static_cast<size_t>(b.left)];
    Symbol& r = syms[static_cast<size_t>(b.right)];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    l.n += r.n;
    r.n = 0;
    l.id = find_token(std::string_view(word).substr(l.start, l.n));
    l.next = r.next;
    if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  emit_symbols(word, syms, out);
}

void BpeTokenizer::emit_symbols(const std::string& word, const std::vector<Symbol>& syms,
                                std::vector<int32_t>& out) const {
  for (int32_t i = syms.empty() ? -1 : 0; i != -1; i = syms[static_cast<size_t>(i)].next) {
    const Symbol& s = syms[static_cast<size_t>(i)];
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    for (uint32_t k = 0; k < s.n; ++k) {  // as llama.cpp: single-byte tokens of the text, if any
      const int32_t id = find_token(std::string_view(word).substr(s.start + k, 1));
      if (id >= 0) out.push_back(id);
    }
  }
}

}  // namespace rs::engine
