// Tokenizer (shared, non-virtual parts) and StreamDecoder.
#include "rs/engine/tokenizer.h"

#include <algorithm>

#include "unicode.h"

namespace rs::engine {

bool Tokenizer::is_eog(int32_t id) const {
  return id >= 0 && std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) out += piece(id);
  return out;
}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_->piece(id);
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const int len = unicode::valid_utf8_prefix(pending_, pos);
    if (len == 0) break;  // an incomplete sequence at the end: hold it back
    if (len < 0) {
      out += "\xEF\xBF\xBD";  // can never complete: U+FFFD
      pos += static_cast<size_t>(-len);
      continue;
    }
    out.append(pending_, pos, static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
  }
  pending_.erase(0, pos);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  if (!pending_.empty()) out = "\xEF\xBF\xBD";  // only ever an incomplete sequence
  pending_.clear();
  return out;
}

}  // namespace rs::engine
