// bench-engine: synthesizes (or reuses) benchmark models, measures this machine's memory
// bandwidth, then prefill and batched decode throughput through the Engine API. Writes a
// JSON document (--out, default stdout) and one summary line at the end.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

using rs::bench::ModelSpec;

std::string self_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

nlohmann::json reference() {
  return {{"source", "llama.cpp on this machine (2 threads)"},
          {"134M_f16", {{"decode1_tok_s", 83}, {"prefill512_tok_s", 550}}},
          {"134M_q8_0", {{"decode1_tok_s", 110}, {"decode8_16_aggregate_tok_s", {190, 240}}}},
          {"1.1B_f16", {{"decode1_tok_s", 11}, {"prefill512_tok_s", 65}}},
          {"1.1B_q8_0", {{"decode1_tok_s", 17.9}}}};
}

// types: f16 and q8_0 by default, else any `ringserve-model synth --type` (q4_k_m, q6_k...;
// the tiny model's dim 64 takes only the block-of-32 types).
std::vector<ModelSpec> model_specs(bool quick, bool large, const std::string& vocab,
                                   std::vector<std::string> types) {
  if (types.empty()) types = {"f16", "q8_0"};
  std::vector<ModelSpec> specs;
  if (quick) {
    for (const auto& t : types) specs.push_back({"tiny", "llama", 64, 2, 4, 2, 128, t, ""});
    return specs;
  }
  for (const auto& t : types) specs.push_back({"134M", "llama", 768, 12, 12, 12, 2048, t, vocab});
  if (large) {
    for (const auto& t : types) specs.push_back({"1.1B", "llama", 2048, 22, 32, 4, 5632, t, vocab});
  }
  return specs;
}

// " (llama.cpp decode1=... xR ...)": llama.cpp's figures and ours over theirs.
std::string llama_cpp_summary(const nlohmann::json& m) {
  const auto& l = m["llama_cpp"];
  auto ours = [&](const char* b) { return m["decode"].contains(b) ? m["decode"][b]["tok_s"].get<double>() : 0.0; };
  auto theirs = [&](const char* b) { return l["decode"].contains(b) ? l["decode"][b].get<double>() : 0.0; };
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const double d1 = l.value("decode1_tok_s", 0.0);
  const double pf = l.value("prefill_tok_s", 0.0);
  char buf[256];
  std::snprintf(buf, sizeof(buf), " (llama.cpp decode1=%.1f %.2fx decode4=%.1f %.2fx decode16=%.1f %.2fx prefill=%.1f %.2fx)",
                d1, ratio(ours("1"), d1), theirs("4"), ratio(ours("4"), theirs("4")), theirs("16"),
                ratio(ours("16"), theirs("16")), pf, ratio(m["prefill_tok_s"].get<double>(), pf));
  return buf;
}

std::string summary(const nlohmann::json& models) {
  std::string s = "bench-engine:";
  char buf[256];
  bool first = true;
  for (const auto& m : models) {
    const auto& d = m["decode"];
    auto tps = [&](const char* b) { return d.contains(b) ? d[b]["tok_s"].get<double>() : 0.0; };
    std::snprintf(buf, sizeof(buf), "%s %s %s decode1=%.1f decode4=%.1f decode16=%.1f prefill%d=%.1f roofline=%.2f",
                  first ? "" : " |", m["type"].get<std::string>().c_str(), m["label"].get<std::string>().c_str(),
                  tps("1"), tps("4"), tps("16"), m["prefill_tokens"].get<int>(), m["prefill_tok_s"].get<double>(),
                  m.value("roofline_ratio", 0.0));
    s += buf;
    if (m.contains("llama_cpp")) s += llama_cpp_summary(m);
    first = false;
  }
  if (!models.empty()) s += " (best of " + std::to_string(models[0].value("reps", 1)) + " runs; medians in the JSON)";
  return s;
}

// Synthesizes (or reuses) and benchmarks every model in turn.
// The 1.1B models run at most large_reps repetitions per case (each run takes seconds).
// With llama_dir, llama.cpp runs on each same file right after ours ("llama_cpp").
rs::Result<nlohmann::json> run_models(const std::vector<ModelSpec>& specs, const std::string& cache_dir,
                                      const std::string& tool, const rs::bench::BenchParams& params, double bw,
                                      int large_reps, const std::string& llama_dir) {
  nlohmann::json models = nlohmann::json::array();
  for (const ModelSpec& spec : specs) {
    RS_ASSIGN_OR_RETURN(std::string path, rs::bench::ensure_model(spec, cache_dir, tool, llama_dir));
    rs::bench::BenchParams p = params;
    if (spec.label == "1.1B") p.reps = std::min(p.reps, large_reps);
    auto result = rs::bench::bench_model(spec, path, p, bw);
    if (!result.ok()) {
      return rs::Status(result.status().code(), spec.label + " " + spec.type + ": " + result.status().message());
    }
    if (!llama_dir.empty()) {
      RS_ASSIGN_OR_RETURN((*result)["llama_cpp"], rs::bench::llama_cpp_bench(llama_dir, path, p));
    }
    models.push_back(*result);
  }
  return models;
}

// The JSON to --out (or stdout) and the summary line last (stdout with --out, else stderr
// so that stdout stays one JSON document).
int write_output(const nlohmann::json& doc, const std::string& line, const std::string& out) {
  if (out.empty()) {
    std::printf("%s\n", doc.dump(2).c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", line.c_str());
    return 0;
  }
  std::ofstream f(out);
  f << doc.dump(2) << "\n";
  f.close();
  if (!f) {
    std::fprintf(stderr, "bench-engine: cannot write %s\n", out.c_str());
    return 1;
  }
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-engine: engine prefill/decode throughput on synthetic models"};
  std::string out, cache_dir = "./var/bench-models", tool = self_dir() + "/ringserve-model";
  std::string shared = std::getenv("RS_SHARED_DIR") != nullptr ? std::getenv("RS_SHARED_DIR") : "../shared";
  std::string vocab = shared + "/models/llama-2-tiny-random.gguf";
  bool quick = false, large = false, no_small = false;
  int large_reps = 2;
  std::vector<std::string> types;
  rs::bench::BenchParams params;
  app.add_option("--out", out, "JSON output file (default stdout)");
  app.add_option("--cache-dir", cache_dir, "Synthetic model cache")->capture_default_str();
  app.add_option("--tool", tool, "ringserve-model binary")->capture_default_str();
  app.add_option("--vocab-from", vocab, "GGUF whose tokenizer the 134M/1.1B models get")->capture_default_str();
  app.add_option("--threads", params.n_threads, "Engine threads")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--tokens", params.decode_tokens, "Decode tokens per sequence")
      ->check(CLI::Range(2, 1 << 20))
      ->capture_default_str();
  app.add_option("--reps", params.reps, "Timed repetitions per case (best and median reported)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--large-reps", large_reps, "At most this many repetitions per 1.1B case")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--batch", params.batch_sizes, "Decode batch sizes")->check(CLI::Range(1, 256));
  app.add_option("--prefill", params.prefill_tokens, "Prefill prompt tokens (0: skip prefill)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  app.add_option("--type", types, "Weight types (default f16 q8_0; any synth --type: q4_0, q4_k, q4_k_m, q6_k...)");
  app.add_flag("--no-small", no_small, "Skip the 134M models (with --large: 1.1B only)");
  app.add_flag("--quick", quick, "Tiny model only (seconds; CI smoke test)");
  app.add_flag("--large", large, "Also the 1.1B TinyLlama shape");
  std::string kv_type = "f16";
  app.add_option("--kv-cache-type", kv_type, "Engine K/V cache type (f16, f32)")
      ->check(CLI::IsMember({"f16", "f32"}))
      ->capture_default_str();
  std::string llama_dir;
  app.add_option("--llama-bench", llama_dir,
                 "llama.cpp build bin/ directory: run its llama-bench and llama-batched-bench on the same "
                 "files (and make q4_k_m-style mixes with its llama-quantize)")
      ->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);
  params.kv_cache_type = rs::engine::parse_kv_cache_type(kv_type).value_or(rs::engine::KvCacheType::kF16);
  if (quick) {
    if (app.count("--prefill") == 0) params.prefill_tokens = 64;
    if (app.count("--tokens") == 0) params.decode_tokens = 8;
  }
  if (!quick && !std::filesystem::exists(vocab)) {
    std::fprintf(stderr, "bench-engine: %s missing: using the byte-level vocabulary\n", vocab.c_str());
    vocab.clear();
  }

  std::vector<ModelSpec> specs;
  for (const ModelSpec& spec : model_specs(quick, large, vocab, types)) {
    if (no_small && spec.label == "134M") continue;
    specs.push_back(spec);
  }
  const double bw = rs::bench::measure_bandwidth_gbs(params.n_threads, quick ? 128 : 1024, quick ? 3 : 5);
  std::fprintf(stderr, "bench-engine: memory bandwidth %.2f GB/s (%d threads)\n", bw, params.n_threads);
  nlohmann::json doc{{"machine", {{"cpu", cpu_name()}, {"threads", params.n_threads}, {"bandwidth_gbs", bw}}},
                     {"config", {{"decode_tokens", params.decode_tokens}, {"prefill_tokens", params.prefill_tokens},
                                 {"decode_prompt_tokens", params.decode_prompt_tokens}, {"quick", quick},
                                 {"large", large}, {"vocab_from", vocab}, {"reps", params.reps},
                                 {"large_reps", large_reps}, {"llama_bench", llama_dir},
                                 {"kv_cache_type", kv_type}}},
                     {"reference", reference()}};
  auto models = run_models(specs, cache_dir, tool, params, bw, large_reps, llama_dir);
  if (!models.ok()) {
    std::fprintf(stderr, "bench-engine: %s\n", models.status().to_string().c_str());
    return 1;
  }
  doc["models"] = *models;
  return write_output(doc, summary(*models), out);
}
