// llama.cpp side by side (--llama-bench DIR): runs DIR/llama-bench (prefill and batch-1
// decode) and DIR/llama-batched-bench (aggregate decode at each batch size) on the very
// GGUF file ringserve was measured on, with the same thread count, and makes the Q4_K_M
// benchmark models with DIR/llama-quantize (as llama.cpp's users make theirs).
// Called from the bench's main thread; it only reads their JSON output.
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

#include "bench_common.h"

namespace rs::bench {
namespace {

// The command's stdout (stderr dropped); an error when it cannot run or fails.
Result<std::string> run_capture(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return internal_error("cannot run: " + cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) return internal_error("failed: " + cmd);
  return out;
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s.append(s.empty() ? "" : ",").append(std::to_string(x));
  return s;
}

// llama-bench -o json: one object per test; n_prompt > 0 is prefill, n_gen > 0 decode.
Status read_llama_bench(const std::string& out, nlohmann::json& j) {
  const auto doc = nlohmann::json::parse(out, nullptr, false);
  if (!doc.is_array()) return internal_error("llama-bench printed no JSON array");
  for (const auto& t : doc) {
    const double ts = t.value("avg_ts", 0.0);
    if (t.value("n_prompt", 0) > 0) j["prefill_tok_s"] = ts;
    if (t.value("n_gen", 0) > 0) j["decode1_tok_s"] = ts;
  }
  return {};
}

// llama-batched-bench --output-format jsonl: one line per batch size (pl), speed_tg the
// aggregate decode tok/s.
void read_batched_bench(const std::string& out, nlohmann::json& j) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '{') continue;
    const auto row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("pl")) {
      j["decode"][std::to_string(row["pl"].get<int>())] = row.value("speed_tg", 0.0);
    }
  }
}

}  // namespace

Result<nlohmann::json> llama_cpp_bench(const std::string& dir, const std::string& model, const BenchParams& p) {
  nlohmann::json j{{"dir", dir}, {"decode", nlohmann::json::object()}};
  const std::string threads = std::to_string(p.n_threads);
  std::string cmd = shell_quote(dir + "/llama-bench") + " -m " + shell_quote(model) + " -t " + threads +
                    " -n " + std::to_string(p.decode_tokens) + " -r " + std::to_string(p.reps) + " -o json";
  cmd += " -p " + std::to_string(p.prefill_tokens);
  RS_ASSIGN_OR_RETURN(std::string bench_out, run_capture(cmd));
  RS_RETURN_IF_ERROR(read_llama_bench(bench_out, j));
  int max_batch = 1;
  for (int b : p.batch_sizes) max_batch = std::max(max_batch, b);
  const int ctx = max_batch * (p.decode_prompt_tokens + p.decode_tokens) + 64;
  cmd = shell_quote(dir + "/llama-batched-bench") + " -m " + shell_quote(model) + " -t " + threads + " -c " +
        std::to_string(ctx) + " -b 2048 -ub 512 -npp " + std::to_string(p.decode_prompt_tokens) + " -ntg " +
        std::to_string(p.decode_tokens) + " -npl " + join(p.batch_sizes) + " --output-format jsonl";
  RS_ASSIGN_OR_RETURN(std::string batched_out, run_capture(cmd));
  read_batched_bench(batched_out, j);
  return j;
}

Status llama_quantize(const std::string& dir, const std::string& src, const std::string& dst,
                      const std::string& type) {
  const std::string cmd = shell_quote(dir + "/llama-quantize") + " " + shell_quote(src) + " " + shell_quote(dst) + " " + type;
  std::fprintf(stderr, "bench-engine: %s\n", cmd.c_str());
  auto out = run_capture(cmd);
  if (!out.ok()) return out.status();
  if (!std::filesystem::exists(dst)) return internal_error("llama-quantize wrote nothing: " + cmd);
  return {};
}

}  // namespace rs::bench
