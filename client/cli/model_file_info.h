// What `ringserve models add` records about a model file: its absolute path, size and
// SHA-256, and from its GGUF header the architecture and the tensor type. Reads the file
// (the engine's GGUF reader validates the header and tensor table against the file size,
// so a truncated file is refused). Pure over the file; any thread.
#pragma once

#include <cstdint>
#include <string>

#include "rs/core/result.h"

namespace rs::engine {
class GgufFile;
}

namespace rs::cli {

struct ModelFileInfo {
  std::string path;  // absolute
  uint64_t size_bytes = 0;
  std::string sha256;
  std::string architecture;  // general.architecture: "llama", "qwen2", ...
  std::string tensor_type;   // "f32", "f16", "q8_0", "q4_k_m", ...
  std::string chat_template;  // tokenizer.chat_template ("" when the file has none)
};

// not_found for a missing file; invalid_argument for a file that is not a valid GGUF
// model (bad header, truncated, no architecture, no tensors).
Result<ModelFileInfo> inspect_model_file(const std::string& path);

// The name of general.file_type when the file has one we know, else the ggml type holding
// the most bytes among the matrices (tensors of 2+ dimensions; any tensor if none).
std::string gguf_tensor_type(const engine::GgufFile& file);

// A chat template file's text: not_found / io_error, invalid_argument over 1 MiB.
Result<std::string> read_chat_template_file(const std::string& path);

// What chat a version will have: "gguf" / "file" when its template (chat_template_file's
// text when not empty, else the GGUF's) parses, else "unavailable: <reason>".
std::string chat_status(const ModelFileInfo& info, const std::string& chat_template_file_text, bool from_file);

}  // namespace rs::cli
