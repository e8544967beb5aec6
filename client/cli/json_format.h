// Output of the `ringserve` command line: JSON objects (one per line, with --json) and the
// human forms of job records, tokens and worker devices. Pure formatting; any thread.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rs/schemas/messages.h"

namespace rs::cli {

nlohmann::json record_json(const schemas::JobRecord& record);
nlohmann::json token_json(const schemas::TokenEntry& entry);
nlohmann::json device_json(const schemas::DeviceStatus& device);
// One line, invalid UTF-8 (a token's partial character) replaced by U+FFFD.
std::string json_line(const nlohmann::json& j);

// "job j-1  SUCCEEDED  model m  worker w/0  attempt 1" and a usage line (and the error).
std::string record_text(const schemas::JobRecord& record);
// An aligned table with a header row, one row per device.
std::string devices_table(const std::vector<schemas::DeviceStatus>& devices);
// Columns padded to their widest cell plus two spaces; the first row is the header.
std::string aligned_table(const std::vector<std::vector<std::string>>& rows);

// Prints a record: a JSON line with --json, else the human form. Flushes.
void print_record(const schemas::JobRecord& record, bool json);

}  // namespace rs::cli
