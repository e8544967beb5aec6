// VocabTokenizer: the token table shared by the SentencePiece and byte-level BPE families.
#include <algorithm>

#include "tokenizer_impl.h"

namespace rs::engine {
namespace {

// Texts llama.cpp treats as end-of-turn / end-of-generation tokens (forced to control).
constexpr std::string_view kEogTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                          "<|endoftext|>", "<|eom_id|>", "<EOT>"};
constexpr std::string_view kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                          "<|endoftext|>", "<EOT>"};

bool in_list(std::string_view text, const std::string_view* begin, const std::string_view* end) {
  return std::find(begin, end, text) != end;
}

}  // namespace

void VocabTokenizer::init_vocab(VocabData& v) {
  tokens_ = std::move(v.tokens);
  types_ = std::move(v.types);
  bos_ = v.bos;
  eos_ = v.eos;
  eot_ = v.eot;
  unk_ = v.unk;
  add_bos_ = v.add_bos;
  add_eos_ = v.add_eos;
  token_index_.build(tokens_);  // a repeated text maps to its last id, as in llama.cpp

  // End of generation, as llama.cpp: eos, eot, eom and tokens named like an end of turn.
  std::vector<int32_t> eog;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const std::string& t = tokens_[i];
    if (t.size() < 5 || t.size() > 13 || t.front() != '<') continue;  // cheap filter
    const auto id = static_cast<int32_t>(i);
    if (find_token(t) != id) continue;  // a duplicate text: llama.cpp only sees the last id
    if (eot_ < 0 && in_list(t, std::begin(kEotTexts), std::end(kEotTexts))) {
      eot_ = id;
      types_[i] = TokenType::kControl;
    }
    if (in_list(t, std::begin(kEogTexts), std::end(kEogTexts))) {
      eog.push_back(id);
      types_[i] = TokenType::kControl;
    }
  }
  for (int32_t id : {eos_, eot_, v.eom}) {
    if (id >= 0) eog.push_back(id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  eog_ids_ = std::move(eog);

  for (size_t i = 0; i < tokens_.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    const TokenType type = types_[i];
    if (type == TokenType::kUserDefined) user_defined_.push_back(id);
    if ((type == TokenType::kUserDefined || type == TokenType::kControl || type == TokenType::kUnknown) &&
        !tokens_[i].empty() && find_token(tokens_[i]) == id) {
      specials_.push_back(id);
    }
  }
  auto longest_first = [&](int32_t a, int32_t b) {
    return tokens_[static_cast<size_t>(a)].size() > tokens_[static_cast<size_t>(b)].size();
  };
  std::stable_sort(user_defined_.begin(), user_defined_.end(), longest_first);
  std::stable_sort(specials_.begin(), specials_.end(), longest_first);
}

int32_t VocabTokenizer::find_token(std::string_view text) const {
  return token_index_.find(text);
}

std::string VocabTokenizer::piece(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= pieces_.size()) return {};
  return pieces_[static_cast<size_t>(id)];
}

std::vector<VocabTokenizer::Fragment> VocabTokenizer::partition(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({text, -1});
  for (int32_t id : parse_special ? specials_ : user_defined_) {
    const std::string& special = tokens_[static_cast<size_t>(id)];
    std::vector<Fragment> next;
    next.reserve(frags.size());
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t at; (at = rest.find(special)) != std::string_view::npos;) {
        if (at > 0) next.push_back({rest.substr(0, at), -1});
        next.push_back({{}, id});
        rest.remove_prefix(at + special.size());
      }
      if (!rest.empty()) next.push_back({rest, -1});
    }
    frags = std::move(next);
  }
  return frags;
}

}  // namespace rs::engine
