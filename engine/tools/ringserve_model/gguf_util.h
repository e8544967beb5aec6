// Helpers shared by the ringserve-model subcommands: opening a GGUF with a clear error,
// reading the hyper-parameters under "<arch>.", and JSON output. Single-threaded.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "rs/core/result.h"
#include "rs/engine/gguf.h"

namespace rs::tool {

// Opens and validates a GGUF; a missing path is a not_found error naming it.
Result<std::unique_ptr<engine::GgufFile>> open_gguf(const std::string& path);

// True for the architectures the engine runs.
bool arch_supported(std::string_view arch);

struct Hparams {
  std::string arch;
  std::string name;
  int64_t dim = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, ffn = 0;
  int64_t context = 0, rope_dims = 0, vocab = 0;
  double rope_base = 10000.0;
  double rms_eps = 1e-5;
};

// Reads general.architecture and the "<arch>.*" keys; an unsupported arch is an error.
Result<Hparams> read_hparams(const engine::GgufFile& file);

// One JSON document on one line, invalid UTF-8 replaced.
std::string dump_json(const nlohmann::json& j);

}  // namespace rs::tool
