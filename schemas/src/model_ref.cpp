#include "rs/schemas/model_ref.h"

#include <charconv>

namespace rs::schemas {

std::optional<ModelRef> parse_model_ref(std::string_view text) {
  size_t at = text.rfind('@');
  if (at == std::string_view::npos) {
    if (text.empty()) return std::nullopt;
    return ModelRef{std::string(text), 0};
  }
  std::string_view name = text.substr(0, at);
  std::string_view digits = text.substr(at + 1);
  uint32_t version = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
  if (name.empty() || digits.empty() || ec != std::errc() || p != digits.data() + digits.size() ||
      version == 0) {
    return std::nullopt;
  }
  return ModelRef{std::string(name), version};
}

std::string model_key(std::string_view name, uint32_t version) {
  std::string key(name);
  if (version != 0) key += "@" + std::to_string(version);
  return key;
}

}  // namespace rs::schemas
