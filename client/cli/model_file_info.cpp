// inspect_model_file: GGUF header facts and the checksum of a model file.
#include "model_file_info.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string_view>

#include "rs/engine/chat_template.h"
#include "rs/engine/gguf.h"
#include "rs/store/file_sha256.h"

namespace rs::cli {

namespace {

// llama.cpp's llama_ftype numbering (general.file_type), for the types a file may say.
std::optional<std::string_view> file_type_name(int64_t file_type) {
  switch (file_type) {
    case 0: return "f32";
    case 1: return "f16";
    case 2: return "q4_0";
    case 3: return "q4_1";
    case 7: return "q8_0";
    case 8: return "q5_0";
    case 9: return "q5_1";
    case 10: return "q2_k";
    case 11: return "q3_k_s";
    case 12: return "q3_k_m";
    case 13: return "q3_k_l";
    case 14: return "q4_k_s";
    case 15: return "q4_k_m";
    case 16: return "q5_k_s";
    case 17: return "q5_k_m";
    case 18: return "q6_k";
    case 32: return "bf16";
    default: return std::nullopt;
  }
}

std::string dominant_type(const engine::GgufFile& file, bool matrices_only) {
  std::map<uint32_t, uint64_t> bytes_of_type;
  for (const auto& t : file.tensors()) {
    if (matrices_only && t.dims.size() < 2) continue;
    bytes_of_type[static_cast<uint32_t>(t.type)] += t.n_bytes;
  }
  if (bytes_of_type.empty()) return "";
  auto best = bytes_of_type.begin();
  for (auto it = bytes_of_type.begin(); it != bytes_of_type.end(); ++it) {
    if (it->second > best->second) best = it;
  }
  auto type = static_cast<engine::GgmlType>(best->first);
  if (!engine::ggml_type_known(type)) return "type" + std::to_string(best->first);
  return std::string(engine::ggml_type_name(type));
}

Status not_a_model(const std::string& path, const std::string& why) {
  return invalid_argument("not a valid GGUF model: " + path + ": " + why);
}

}  // namespace

std::string gguf_tensor_type(const engine::GgufFile& file) {
  if (file.has("general.file_type")) {
    auto ft = file.get_int("general.file_type");
    if (ft.ok()) {
      if (auto name = file_type_name(*ft)) return std::string(*name);
    }
  }
  std::string t = dominant_type(file, /*matrices_only=*/true);
  return t.empty() ? dominant_type(file, false) : t;
}

Result<std::string> read_chat_template_file(const std::string& path) {
  constexpr uintmax_t kMaxBytes = 1u << 20;
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return not_found("chat template " + path + ": " + ec.message());
  if (size > kMaxBytes) return invalid_argument("chat template " + path + " is over 1 MiB");
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) {
    return Status(StatusCode::kIoError, "cannot read chat template " + path);
  }
  return text;
}

std::string chat_status(const ModelFileInfo& info, const std::string& chat_template_file_text, bool from_file) {
  const std::string& source = from_file ? chat_template_file_text : info.chat_template;
  if (!from_file && source.empty()) return "unavailable: the GGUF has no tokenizer.chat_template";
  auto parsed = engine::ChatTemplate::parse(source, "", "");
  if (!parsed.ok()) return "unavailable: " + parsed.status().message();
  return from_file ? "file" : "gguf";
}

Result<ModelFileInfo> inspect_model_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return not_found("no such file: " + path);
  if (!fs::is_regular_file(path, ec)) return invalid_argument("not a regular file: " + path);
  ModelFileInfo info;
  info.path = fs::absolute(path, ec).lexically_normal().string();
  if (ec) return invalid_argument("bad path '" + path + "': " + ec.message());

  auto gguf = engine::GgufFile::open(info.path);
  if (!gguf.ok()) {
    if (gguf.status().code() == StatusCode::kIoError) return gguf.status();
    return invalid_argument("not a valid GGUF model: " + gguf.status().message());
  }
  const engine::GgufFile& file = **gguf;
  auto arch = file.get_string("general.architecture");
  if (!arch.ok() || arch->empty()) return not_a_model(info.path, "no general.architecture");
  if (file.tensors().empty()) return not_a_model(info.path, "no tensors");
  info.architecture = std::string(*arch);
  info.tensor_type = gguf_tensor_type(file);
  info.size_bytes = file.file_size();
  if (auto chat = file.get_string("tokenizer.chat_template"); chat.ok()) info.chat_template = std::string(*chat);

  RS_ASSIGN_OR_RETURN(info.sha256, store::sha256_file(info.path));
  return info;
}

}  // namespace rs::cli
