// JSON lines and the human table of model versions.
#include "models_format.h"

#include <ctime>

#include <fmt/format.h>

#include "json_format.h"
#include "rs/schemas/model_ref.h"

namespace rs::cli {

namespace {

std::string created_text(uint64_t created_ms) {
  if (created_ms == 0) return "-";
  std::time_t t = static_cast<std::time_t>(created_ms / 1000);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return "-";
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "-" : out;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace

nlohmann::ordered_json model_version_json(const store::ModelVersion& m,
                                          const std::vector<std::string>& loaded_on) {
  nlohmann::ordered_json j;
  j["name"] = m.name;
  j["version"] = m.version;
  j["active"] = m.active;
  j["sha256"] = m.sha256;
  j["path"] = m.path;
  j["loaded_on"] = loaded_on;
  j["error"] = m.error;
  j["canary_percent"] = m.canary_percent;
  j["size_bytes"] = m.size_bytes;
  j["architecture"] = m.architecture;
  j["tensor_type"] = m.tensor_type;
  j["created_ms"] = m.created_ms;
  j["note"] = m.note;
  j["chat"] = m.chat;
  return j;
}

std::string ordered_json_line(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string model_state_text(const store::ModelVersion& m) {
  if (m.active) return "active";
  if (m.canary_percent > 0) return fmt::format("canary {}%", m.canary_percent);
  return "-";
}

std::string size_text(uint64_t n_bytes) {
  if (n_bytes < 1024) return fmt::format("{} B", n_bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n_bytes) / 1024.0;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(units)) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string model_versions_table(const std::vector<store::ModelVersion>& versions,
                                 const LoadedOn& loaded_on) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "VERSION", "STATE", "ARCH", "TYPE", "SIZE", "SHA256", "CREATED (UTC)",
                  "LOADED_ON", "CHAT", "NOTE", "ERROR"});
  for (const auto& m : versions) {
    auto it = loaded_on.find(schemas::model_key(m.name, m.version));
    rows.push_back({m.name, std::to_string(m.version), model_state_text(m), or_dash(m.architecture),
                    or_dash(m.tensor_type), size_text(m.size_bytes), or_dash(m.sha256.substr(0, 12)),
                    created_text(m.created_ms), it == loaded_on.end() ? "-" : joined(it->second),
                    or_dash(m.chat), or_dash(m.note), m.error});
  }
  return aligned_table(rows);
}

}  // namespace rs::cli
