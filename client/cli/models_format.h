// Output of `ringserve models`: one JSON line per model version (keys in a fixed order:
// name, version, active, sha256, path, loaded_on, error, then the other record fields)
// and the human table. Pure formatting; any thread.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models_access.h"
#include "rs/store/model_registry.h"

namespace rs::cli {

// {"name","version","active","sha256","path","loaded_on","error","canary_percent",
//  "size_bytes","architecture","tensor_type","created_ms","note"}
nlohmann::ordered_json model_version_json(const store::ModelVersion& m,
                                          const std::vector<std::string>& loaded_on);
std::string ordered_json_line(const nlohmann::ordered_json& j);

// "active", "canary 25%" or "-".
std::string model_state_text(const store::ModelVersion& m);
// "512 B", "1.5 KiB", "3.2 MiB", "7.0 GiB".
std::string size_text(uint64_t n_bytes);
// An aligned table with a header row, one row per version.
std::string model_versions_table(const std::vector<store::ModelVersion>& versions,
                                 const LoadedOn& loaded_on);

}  // namespace rs::cli
