// SentencePiece-style tokenizer ("llama"), matching llama.cpp's llm_tokenizer_spm: spaces
// become U+2581, a dummy-prefix space is added, then the highest-scoring adjacent pair of
// symbols (UTF-8 characters at first) is merged while the merge is a vocabulary token;
// symbols that are not tokens fall back to <0xXX> byte tokens.
#include <algorithm>
#include <cstdio>
#include <queue>

#include "tokenizer_impl.h"
#include "unicode.h"

namespace rs::engine {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

struct Sym {
  int32_t prev, next;
  uint32_t start, n;
};

struct Bigram {
  int32_t left, right;
  float score;
  uint32_t size;
};

// Highest score first; on a tie, the leftmost pair.
struct BigramLess {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  }
};

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (c == ' ') {
      out += kSpaceMark;
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape_spaces(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out += ' ';
      i += kSpaceMark.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xXX>" -> the byte, -1 when the text has another form.
int parse_byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  const int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> SpmTokenizer::create(VocabData v) {
  auto tok = std::unique_ptr<SpmTokenizer>(new SpmTokenizer());
  tok->scores_ = std::move(v.scores);
  tok->add_space_prefix_ = v.add_space_prefix;
  tok->init_vocab(v);
  if (tok->scores_.empty()) tok->scores_.assign(tok->tokens_.size(), 0.0f);

  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    int32_t id = tok->find_token(buf);
    if (id < 0) id = tok->find_token(std::string(1, static_cast<char>(b)));
    tok->byte_tokens_[b] = id;
  }

  tok->pieces_.resize(tok->tokens_.size());
  for (size_t i = 0; i < tok->tokens_.size(); ++i) {
    const std::string& text = tok->tokens_[i];
    switch (tok->types_[i]) {
      case TokenType::kNormal:
        tok->pieces_[i] = unescape_spaces(text);
        break;
      case TokenType::kUserDefined:
        tok->pieces_[i] = text;
        break;
      case TokenType::kByte: {
        const int b = parse_byte_token(text);
        if (b < 0) return corrupt("byte token " + std::to_string(i) + " is not of the form <0xXX>");
        tok->pieces_[i] = std::string(1, static_cast<char>(b));
        break;
      }
      default:  // control, unknown, unused, undefined: no text
        break;
    }
  }
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

std::vector<int32_t> SpmTokenizer::encode_impl(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  bool prev_special = true;  // the first fragment gets the dummy-prefix space
  for (const Fragment& f : partition(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    std::string raw = (add_space_prefix_ && prev_special) ? " " : "";
    raw.append(f.text);
    encode_text(escape_spaces(raw), out);
    prev_special = false;
  }
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

void SpmTokenizer::encode_text(const std::string& text, std::vector<int32_t>& out) const {
  std::vector<Sym> syms;
  syms.reserve(text.size());
  for (size_t offs = 0; offs < text.size();) {
    const auto n = static_cast<uint32_t>(
        std::min(unicode::utf8_len(static_cast<uint8_t>(text[offs])), text.size() - offs));
    const auto idx = static_cast<int32_t>(syms.size());
    offs += n;
    syms.push_back({idx - 1, offs == text.size() ? -1 : idx + 1, static_cast<uint32_t>(offs - n), n});
  }
  std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Sym& l = syms[static_cast<size_t>(left)];
    const uint32_t size = l.n + syms[static_cast<size_t>(right)].n;
    const int32_t id = find_token(std::string_view(text).substr(l.start, size));
    if (id < 0) return;
    queue.push({left, right, scores_[static_cast<size_t>(id)], size});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Sym& l = syms[static_cast<size_t>(b.left)];
    Sym& r = syms[static_cast<size_t>(b.right)];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int32_t i = syms.empty() ? -1 : 0; i != -1; i = syms[static_cast<size_t>(i)].next) {
    const Sym& s = syms[static_cast<size_t>(i)];
    emit_symbol(std::string_view(text).substr(s.start, s.n), out);
  }
}

void SpmTokenizer::emit_symbol(std::string_view text, std::vector<int32_t>& out) const {
  const int32_t id = find_token(text);
  if (id >= 0) {
    out.push_back(id);
    return;
  }
  for (char c : text) {  // byte fallback
    const int32_t b = byte_tokens_[static_cast<uint8_t>(c)];
    if (b >= 0) {
      out.push_back(b);
    } else if (unk_ >= 0) {
      out.push_back(unk_);
    }
  }
}

}  // namespace rs::engine
