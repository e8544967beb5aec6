// json_text(): the gateway's one way to write JSON: compact, invalid UTF-8 replaced (model
// text may hold any bytes). Any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace rs::gateway {

inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
// The same for an ordered object (keys in insertion order: a client's own order).
inline std::string json_text(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace rs::gateway
