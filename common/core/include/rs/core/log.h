// Logging for ringserve: spdlog with one shared format. init_logging() is called once
// by each program's main; any thread may log afterwards.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace rs {

// level: "trace", "debug", "info", "warn", "error", "off". Logs go to stderr.
void init_logging(std::string_view level = "info");

}  // namespace rs
