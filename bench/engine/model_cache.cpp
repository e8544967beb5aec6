// Synthetic model cache: runs `ringserve-model synth` once per shape and type.
#include <cctype>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

#include "bench_common.h"
#include "rs/engine/gguf.h"

namespace rs::bench {
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

namespace {

std::string file_name(const ModelSpec& s) {
  // Appends (not operator+ chains, which trip GCC 12's -Wrestrict false positive).
  std::string name = s.arch;
  for (const auto& [tag, v] : {std::pair<const char*, int>{"-d", s.dim}, {"-l", s.layers}, {"-h", s.heads},
                               {"-kv", s.kv_heads}, {"-ffn", s.ffn}}) {
    name.append(tag).append(std::to_string(v));
  }
  name.append("-").append(s.type).append("-");
  name.append(s.vocab_from.empty() ? std::string("bytevocab") : std::filesystem::path(s.vocab_from).stem().string());
  return name.append(".gguf");
}

std::string synth_command(const ModelSpec& s, const std::string& tool, const std::string& path) {
  std::string cmd = shell_quote(tool);
  cmd.append(" synth --arch ").append(s.arch);
  for (const auto& [flag, v] : {std::pair<const char*, int>{" --dim ", s.dim}, {" --layers ", s.layers},
                                {" --heads ", s.heads}, {" --kv-heads ", s.kv_heads}, {" --ffn ", s.ffn}}) {
    cmd.append(flag).append(std::to_string(v));
  }
  cmd.append(" --type ").append(s.type).append(" --seed 1 --ctx 2048");
  if (!s.vocab_from.empty()) cmd.append(" --vocab-from ").append(shell_quote(s.vocab_from));
  return cmd.append(" ").append(shell_quote(path));
}

// llama-quantize's mixes (a type per tensor), e.g. "q4_k_m" -> "Q4_K_M".
bool is_mix(const std::string& type) { return type.size() > 2 && (type.ends_with("_m") || type.ends_with("_s")); }

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::string> ensure_model(const ModelSpec& spec, const std::string& cache_dir, const std::string& tool,
                                 const std::string& llama_dir) {
  std::error_code ec;
  std::filesystem::create_directories(cache_dir, ec);
  if (ec) return io_error("cannot create " + cache_dir + ": " + ec.message());
  ModelSpec named = spec;
  if (!llama_dir.empty() && is_mix(spec.type)) named.type = spec.type + "-llama-quantize";
  const std::string path = (std::filesystem::path(cache_dir) / file_name(named)).string();
  if (std::filesystem::exists(path) && engine::GgufFile::open(path).ok()) return path;
  if (named.type != spec.type) {
    ModelSpec f16 = spec;
    f16.type = "f16";
    RS_ASSIGN_OR_RETURN(std::string src, ensure_model(f16, cache_dir, tool));
    RS_RETURN_IF_ERROR(llama_quantize(llama_dir, src, path, upper(spec.type)));
    return path;
  }
  if (!std::filesystem::exists(tool)) return not_found("ringserve-model not found at " + tool + " (build it or pass --tool)");
  const std::string cmd = synth_command(spec, tool, path);
  std::fprintf(stderr, "bench-engine: synthesizing %s\n", path.c_str());
  if (std::system(cmd.c_str()) != 0) return internal_error("synth failed: " + cmd);
  return path;
}

}  // namespace rs::bench
