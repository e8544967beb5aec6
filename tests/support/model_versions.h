// Helpers for the model-registry integration tests: synthetic model versions (same shape,
// different weight seeds, so their outputs differ), running the `ringserve` CLI with its
// exit code, parsing `models list --json`, and reading which model keys each device of a
// Pool advertises. Test thread only.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process_harness.h"

namespace rs::test {

// `ringserve-model synth --seed seed` into dir/<stem>.gguf with the medium model's shape
// (jobs outlive their submission) or the tiny one's; "" on failure.
inline std::string synth_version(TempDir& dir, const std::string& stem, uint64_t seed, bool medium) {
  std::string out = dir.file(stem + ".gguf");
  std::vector<std::string> argv = {program("ringserve-model"), "synth", out, "--seed", std::to_string(seed),
                                   "--heads", "4", "--kv-heads", "4"};
  if (medium) {
    argv.insert(argv.end(), {"--dim", "256", "--layers", "4", "--ffn", "512", "--ctx", "2048"});
  } else {
    argv.insert(argv.end(), {"--dim", "64", "--layers", "2", "--ffn", "128", "--ctx", "1024"});
  }
  return run_program(argv, dir.file(stem + ".synth.log"), 60000) ? out : std::string();
}

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    size_t begin = 0;
    while (begin < out.size()) {
      size_t end = out.find('\n', begin);
      if (end == std::string::npos) end = out.size();
      if (end > begin) v.push_back(out.substr(begin, end - begin));
      begin = end + 1;
    }
    return v;
  }
};

// `ringserve <args...>` with the pool's Redis and broker; stderr goes to dir/cli.log.
inline CliRun run_cli(Pool& pool, std::vector<std::string> args, int timeout_ms = 60000) {
  std::vector<std::string> argv = {program("ringserve")};
  argv.insert(argv.end(), args.begin(), args.end());
  if (args.size() >= 1 && args[0] == "models") argv.insert(argv.end(), {"--redis", pool.redis_address()});
  if (!pool.client_endpoint().empty()) argv.insert(argv.end(), {"--broker", pool.client_endpoint()});
  CliRun r;
  ChildProcess p;
  if (!p.start(argv, pool.dir().file("cli.log"))) return r;
  r.out = p.read_all(timeout_ms);
  if (!p.wait_exit(2000)) {
    p.kill_hard();
    return r;
  }
  r.exit_code = p.exit_code();
  return r;
}

// `ringserve models add NAME FILE [--activate]`; the new version (0 on failure).
inline uint32_t cli_add_version(Pool& pool, const std::string& name, const std::string& file, bool activate) {
  std::vector<std::string> args = {"models", "add", name, file, "--json"};
  if (activate) args.push_back("--activate");
  CliRun r = run_cli(pool, args);
  if (r.exit_code != 0 || r.lines().empty()) {
    ADD_FAILURE() << "models add failed (" << r.exit_code << "): " << r.out;
    return 0;
  }
  try {
    return nlohmann::json::parse(r.lines().back()).at("version").get<uint32_t>();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "models add printed " << r.out << ": " << e.what();
    return 0;
  }
}

// `ringserve models list --json`, one object per version.
inline std::vector<nlohmann::json> cli_models_list(Pool& pool) {
  CliRun r = run_cli(pool, {"models", "list", "--json"});
  std::vector<nlohmann::json> out;
  if (r.exit_code != 0) {
    ADD_FAILURE() << "models list failed (" << r.exit_code << "): " << r.out;
    return out;
  }
  for (const std::string& line : r.lines()) {
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const std::exception&) {
      ADD_FAILURE() << "models list printed a non-JSON line: " << line;
    }
  }
  return out;
}

// Model keys per device ("w1/0" -> {"tiny@2"}) as the broker lists them now.
inline std::map<std::string, std::set<std::string>> device_keys(Pool& pool) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& d : pool.devices()) {
    out[d.worker + "/" + std::to_string(d.device)] = {d.models.begin(), d.models.end()};
  }
  return out;
}

// Every one of n_devices devices lists exactly `keys` (bounded poll).
inline bool wait_device_keys(Pool& pool, size_t n_devices, const std::set<std::string>& keys, int timeout_ms) {
  return Pool::poll_until(timeout_ms, [&] {
    auto now = device_keys(pool);
    if (now.size() != n_devices) return false;
    for (const auto& [device, listed] : now) {
      if (listed != keys) return false;
    }
    return true;
  });
}

// Overwrites n bytes in the middle of a file (same size, different sha256).
inline bool corrupt_middle(const std::string& path, size_t n) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size < 2 * n) return false;
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(size / 2));
  std::string junk(n, '\x5a');
  f.write(junk.data(), static_cast<std::streamsize>(n));
  return static_cast<bool>(f);
}

// A copy of `path` cut to half its size at `out`.
inline bool truncated_copy(const std::string& path, const std::string& out) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return false;
  std::filesystem::copy_file(path, out, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return false;
  std::filesystem::resize_file(out, size / 2, ec);
  return !ec;
}

}  // namespace rs::test
