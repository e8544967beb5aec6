// Where the engine fuzzers find ../shared (models, fixtures), as tests/support/test_paths.h
// does: RINGSERVE_MODELS / RINGSERVE_FIXTURES, else RS_SHARED_DIR, else the configured
// default. A missing file is fatal under CI=true; elsewhere the target says so and goes on.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#ifndef RS_DEFAULT_SHARED_DIR
#define RS_DEFAULT_SHARED_DIR "../shared"
#endif

namespace rs::fuzz {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}
inline std::string shared_dir() { return env_or("RS_SHARED_DIR", RS_DEFAULT_SHARED_DIR); }
inline std::string models_dir() { return env_or("RINGSERVE_MODELS", shared_dir() + "/models"); }
inline std::string fixtures_dir() { return env_or("RINGSERVE_FIXTURES", shared_dir() + "/fixtures"); }

// True when `path` exists; else a message, and under CI=true the process exits 1.
inline bool require_file(const std::string& path) {
  if (std::filesystem::exists(path)) return true;
  std::fprintf(stderr, "fuzz: missing %s\n", path.c_str());
  if (env_or("CI", "") == "true") std::exit(1);
  return false;
}

}  // namespace rs::fuzz
