// Model references: "name" (any version: the active one, or the session's) or
// "name@version" (pinned). A device advertises model keys of the same form: "name@3" for a
// registry version, plain "name" for a model loaded from a file outside the registry.
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rs::schemas {

struct ModelRef {
  std::string name;
  uint32_t version = 0;  // 0: not pinned / unversioned
  bool operator==(const ModelRef&) const = default;
};

// "tiny" -> {tiny, 0}; "tiny@3" -> {tiny, 3}. nullopt for an empty name or a version that
// is not a positive decimal number ("tiny@", "tiny@0", "tiny@x", "@3").
std::optional<ModelRef> parse_model_ref(std::string_view text);
// {tiny, 3} -> "tiny@3"; {tiny, 0} -> "tiny".
std::string model_key(std::string_view name, uint32_t version);
inline std::string model_key(const ModelRef& ref) { return model_key(ref.name, ref.version); }

}  // namespace rs::schemas
