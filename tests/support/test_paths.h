// Locating ../shared fixtures and models from tests, and the skip-or-fail rule:
// a missing fixture skips the test, except under CI=true where it fails.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace rs::test {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

#ifndef RS_DEFAULT_SHARED_DIR
#define RS_DEFAULT_SHARED_DIR "../shared"
#endif
#ifndef RS_DEFAULT_BIN_DIR
#define RS_DEFAULT_BIN_DIR "bin"
#endif

inline std::string shared_dir() { return env_or("RS_SHARED_DIR", RS_DEFAULT_SHARED_DIR); }
inline std::string fixtures_dir() { return env_or("RINGSERVE_FIXTURES", shared_dir() + "/fixtures"); }
inline std::string models_dir() { return env_or("RINGSERVE_MODELS", shared_dir() + "/models"); }
inline std::string bin_dir() { return env_or("RS_BIN_DIR", RS_DEFAULT_BIN_DIR); }
inline bool in_ci() { return env_or("CI", "") == "true"; }

inline std::string model_path(const std::string& file) { return models_dir() + "/" + file; }
#ifdef RS_SOURCE_DIR
// A file of this repository (e.g. "examples/chat/chatml.jinja").
inline std::string source_path(const std::string& file) { return std::string(RS_SOURCE_DIR) + "/" + file; }
#endif
inline std::string fixture_path(const std::string& file) { return fixtures_dir() + "/" + file; }

inline nlohmann::json load_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

}  // namespace rs::test

// Skips the test when `path` is missing, or fails it under CI=true.
#define RS_REQUIRE_FILE(path)                                                    \
  do {                                                                           \
    if (!std::filesystem::exists(path)) {                                        \
      if (::rs::test::in_ci()) FAIL() << "missing fixture under CI: " << (path); \
      GTEST_SKIP() << "fixture not found: " << (path);                           \
    }                                                                            \
  } while (0)
