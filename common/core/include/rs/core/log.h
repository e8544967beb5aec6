// Logging for ringserve: spdlog with one shared format. init_logging() is called once
// by each program's main (set_log_field before any other thread starts); any thread may
// log afterwards. Format "text" is the human one; "json" writes one object per line with
// ts, level, program, msg, and job / worker / device when the line concerns them, so a
// job can be followed across processes with grep or jq (docs/ARCHITECTURE.md, "Logs").
#pragma once

#include <spdlog/spdlog.h>

#include <optional>
#include <string>
#include <string_view>

namespace rs {

// level: "trace", "debug", "info", "warn", "error", "off". format: "text" or "json" (an
// unknown format is "text"). program: the "program" field of JSON lines. Logs go to stderr.
void init_logging(std::string_view level = "info", std::string_view format = "text",
                  std::string_view program = "");
bool valid_log_format(std::string_view format);
// A field every JSON line carries (e.g. a worker's "worker" id). Before other threads log.
void set_log_field(std::string key, std::string value);

// Pure helpers of the JSON format (tests): the line for one message (no trailing newline),
// and what a message says of its job, worker and device.
struct LogSubjects {
  std::string job;     // "j-<16 hex>-<n>"
  std::string worker;  // the word after "worker " when it holds a digit ("w1", "w-host-42")
  std::optional<int> device;  // the number after "device "
};
LogSubjects log_subjects(std::string_view msg);
std::string json_log_line(std::string_view ts, std::string_view level, std::string_view program,
                          std::string_view msg);
// A JSON string literal of `text` (quotes included); invalid UTF-8 becomes U+FFFD.
std::string json_quote(std::string_view text);

}  // namespace rs
