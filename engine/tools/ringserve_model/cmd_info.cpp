// `ringserve-model info FILE [--json]`: architecture, shapes, tensor types, tokenizer.
#include <cstdio>
#include <map>
#include <string>

#include "commands.h"
#include "gguf_util.h"

namespace rs::tool {
namespace {

struct TypeStats {
  int64_t count = 0;
  uint64_t bytes = 0;
  int64_t params = 0;
};

struct TokenizerInfo {
  std::string model, pre;
  int64_t bos = -1, eos = -1;
};

TokenizerInfo read_tokenizer_info(const engine::GgufFile& f) {
  TokenizerInfo t;
  if (auto m = f.get_string("tokenizer.ggml.model"); m.ok()) t.model = std::string(*m);
  if (auto p = f.get_string("tokenizer.ggml.pre"); p.ok()) t.pre = std::string(*p);
  t.bos = f.get_int_or("tokenizer.ggml.bos_token_id", -1);
  t.eos = f.get_int_or("tokenizer.ggml.eos_token_id", -1);
  return t;
}

nlohmann::json to_json(const engine::GgufFile& f, const Hparams& h,
                       const std::map<std::string, TypeStats>& types, const TokenizerInfo& t) {
  nlohmann::json j;
  j["file"] = f.path();
  j["gguf_version"] = f.version();
  j["architecture"] = h.arch;
  j["name"] = h.name;
  j["dim"] = h.dim;
  j["layers"] = h.layers;
  j["heads"] = h.heads;
  j["kv_heads"] = h.kv_heads;
  j["head_dim"] = h.head_dim;
  j["ffn"] = h.ffn;
  j["context"] = h.context;
  j["rope_base"] = h.rope_base;
  j["rope_dims"] = h.rope_dims;
  j["rms_eps"] = h.rms_eps;
  j["vocab"] = h.vocab;
  nlohmann::json jt = nlohmann::json::object();
  int64_t params = 0;
  uint64_t tensor_bytes = 0;
  for (const auto& [name, s] : types) {
    jt[name] = {{"count", s.count}, {"bytes", s.bytes}, {"params", s.params}};
    params += s.params;
    tensor_bytes += s.bytes;
  }
  j["tensor_types"] = jt;
  j["n_tensors"] = f.tensors().size();
  j["params"] = params;
  j["tensor_bytes"] = tensor_bytes;
  j["file_bytes"] = f.file_size();
  j["tokenizer"] = {{"model", t.model}, {"pre", t.pre}, {"bos", t.bos}, {"eos", t.eos}};
  return j;
}

void print_plain(const nlohmann::json& j) {
  std::printf("file:          %s (GGUF v%d, %.2f MiB)\n", j["file"].get<std::string>().c_str(),
              j["gguf_version"].get<int>(), j["file_bytes"].get<double>() / (1024.0 * 1024.0));
  std::printf("architecture:  %s\n", j["architecture"].get<std::string>().c_str());
  std::printf("name:          %s\n", j["name"].get<std::string>().c_str());
  std::printf("dim %lld, layers %lld, heads %lld, kv heads %lld, head_dim %lld, ffn %lld\n",
              j["dim"].get<long long>(), j["layers"].get<long long>(), j["heads"].get<long long>(),
              j["kv_heads"].get<long long>(), j["head_dim"].get<long long>(), j["ffn"].get<long long>());
  std::printf("context %lld, rope base %g (dims %lld), rms eps %g, vocab %lld\n",
              j["context"].get<long long>(), j["rope_base"].get<double>(), j["rope_dims"].get<long long>(),
              j["rms_eps"].get<double>(), j["vocab"].get<long long>());
  std::printf("tensors:       %zu, %.2fM params, %.2f MiB\n", j["n_tensors"].get<size_t>(),
              j["params"].get<double>() / 1e6, j["tensor_bytes"].get<double>() / (1024.0 * 1024.0));
  for (const auto& [name, s] : j["tensor_types"].items()) {
    std::printf("  %-6s %5lld tensors  %10.2f MiB\n", name.c_str(), s["count"].get<long long>(),
                s["bytes"].get<double>() / (1024.0 * 1024.0));
  }
  const auto& t = j["tokenizer"];
  std::printf("tokenizer:     model %s, pre %s, bos %lld, eos %lld\n",
              t["model"].get<std::string>().c_str(),
              t["pre"].get<std::string>().empty() ? "-" : t["pre"].get<std::string>().c_str(),
              t["bos"].get<long long>(), t["eos"].get<long long>());
}

}  // namespace

int run_info(const InfoOptions& opts) {
  auto file = open_gguf(opts.file);
  if (!file.ok()) return fail(opts.file, file.status());
  const engine::GgufFile& f = **file;
  auto h = read_hparams(f);
  if (!h.ok()) return fail(opts.file, h.status());
  std::map<std::string, TypeStats> types;
  for (const auto& t : f.tensors()) {
    auto& s = types[std::string(engine::ggml_type_name(t.type))];
    s.count += 1;
    s.bytes += t.n_bytes;
    s.params += t.n_elements();
  }
  nlohmann::json j = to_json(f, *h, types, read_tokenizer_info(f));
  if (opts.json) {
    std::printf("%s\n", dump_json(j).c_str());
  } else {
    print_plain(j);
  }
  return 0;
}

}  // namespace rs::tool
