#include "rs/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

namespace rs {

void init_logging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("ringserve");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace rs
