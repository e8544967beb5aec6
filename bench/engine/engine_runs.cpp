// Engine measurements of one model: prefill throughput of a long prompt and aggregate
// greedy decode throughput at several batch sizes, all through the Engine API.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "bench_common.h"
#include "rs/engine/engine.h"

namespace rs::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<int32_t> random_prompt(int n, int n_vocab, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& id : ids) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    id = 3 + static_cast<int32_t>(s % static_cast<uint64_t>(std::max(1, n_vocab - 3)));
  }
  return ids;
}

Result<std::unique_ptr<engine::Engine>> make_engine(std::shared_ptr<const engine::Model> model, int batch,
                                                    int positions, int n_threads) {
  engine::EngineConfig cfg;
  cfg.max_batch_size = batch;
  cfg.max_batch_tokens = 512;
  cfg.max_context = std::min(model->config().context_length > 0 ? model->config().context_length : 2048, 2048);
  cfg.kv_blocks = batch * ((positions + cfg.kv_block_tokens - 1) / cfg.kv_block_tokens + 1);
  cfg.n_threads = n_threads;
  cfg.prefix_cache = false;
  return engine::Engine::create(std::move(model), cfg);
}

engine::GenerationRequest request(std::vector<int32_t> prompt, int max_tokens) {
  engine::GenerationRequest req;
  req.prompt_tokens = std::move(prompt);
  req.max_tokens = max_tokens;
  req.ignore_eos = true;
  return req;
}

// Seconds from submit to the first token of one prompt of n tokens.
Result<double> prefill_seconds(std::shared_ptr<const engine::Model> model, int n, int n_threads, uint64_t seed) {
  RS_ASSIGN_OR_RETURN(auto eng, make_engine(model, 1, n + 2, n_threads));
  const auto t0 = Clock::now();
  RS_ASSIGN_OR_RETURN(auto id, eng->submit(request(random_prompt(n, model->config().n_vocab, seed), 1)));
  (void)id;
  while (eng->has_work()) {
    engine::StepResult r = eng->step();
    if (!r.tokens.empty()) return seconds_since(t0);
    for (const auto& f : r.finished) {
      if (f.reason == engine::FinishReason::kError) return internal_error(f.error);
    }
  }
  return internal_error("prefill produced no token");
}

struct DecodeResult {
  double tok_s = 0;
  double step_ms = 0;
};

// Aggregate decode tok/s of `batch` sequences, timed from the step where every sequence
// has its first token to the end.
Result<DecodeResult> decode_run(std::shared_ptr<const engine::Model> model, const BenchParams& p, int batch) {
  const int n_prompt = p.decode_prompt_tokens;
  RS_ASSIGN_OR_RETURN(auto eng, make_engine(model, batch, n_prompt + p.decode_tokens + 2, p.n_threads));
  for (int b = 0; b < batch; ++b) {
    auto id = eng->submit(request(random_prompt(n_prompt, model->config().n_vocab, 100 + b), p.decode_tokens));
    if (!id.ok()) return id.status();
  }
  std::set<engine::SeqId> started;
  int n_started = 0, n_tokens = 0, n_steps = 0;
  Clock::time_point t0;
  while (eng->has_work()) {
    engine::StepResult r = eng->step();
    if (n_started == batch) {
      n_tokens += static_cast<int>(r.tokens.size());
      n_steps += r.tokens.empty() ? 0 : 1;
    }
    for (const auto& t : r.tokens) {
      if (started.insert(t.seq).second && ++n_started == batch) t0 = Clock::now();
    }
    for (const auto& f : r.finished) {
      if (f.reason == engine::FinishReason::kError) return internal_error(f.error);
    }
  }
  const double s = seconds_since(t0);
  if (n_tokens == 0 || n_steps == 0) return internal_error("no decode tokens measured");
  return DecodeResult{n_tokens / s, 1000.0 * s / n_steps};
}

uint64_t bytes_per_token(const engine::Model& model) {
  uint64_t total = 0;
  const bool tied = model.gguf().find_tensor("output.weight") == nullptr;
  for (const auto& t : model.gguf().tensors()) {
    if (t.name == "token_embd.weight" && !tied) continue;  // only one row is read per token
    total += t.n_bytes;
  }
  return total;
}

}  // namespace

Result<nlohmann::json> bench_model(const ModelSpec& spec, const std::string& path, const BenchParams& p,
                                   double bandwidth_gbs) {
  RS_ASSIGN_OR_RETURN(auto model, engine::Model::load(path));
  const engine::ModelConfig& c = model->config();
  nlohmann::json j{{"label", spec.label}, {"type", spec.type}, {"path", path}, {"arch", c.arch},
                   {"dim", c.dim}, {"layers", c.n_layers}, {"heads", c.n_heads}, {"kv_heads", c.n_kv_heads},
                   {"ffn", c.ffn_dim}, {"vocab", c.n_vocab}, {"weight_bytes", c.weight_bytes}};
  const uint64_t per_token = bytes_per_token(*model);
  j["weight_bytes_per_token"] = per_token;
  {  // warm-up: pages the weights in
    BenchParams warm = p;
    warm.decode_tokens = 4;
    RS_ASSIGN_OR_RETURN(auto w, decode_run(model, warm, 1));
    (void)w;
  }
  RS_ASSIGN_OR_RETURN(double prefill_s, prefill_seconds(model, p.prefill_tokens, p.n_threads, 7));
  j["prefill_tokens"] = p.prefill_tokens;
  j["prefill_tok_s"] = p.prefill_tokens / prefill_s;
  std::fprintf(stderr, "bench-engine: %s %s prefill%d %.1f tok/s\n", spec.label.c_str(), spec.type.c_str(),
               p.prefill_tokens, p.prefill_tokens / prefill_s);
  nlohmann::json decode = nlohmann::json::object();
  for (int b : p.batch_sizes) {
    RS_ASSIGN_OR_RETURN(DecodeResult d, decode_run(model, p, b));
    decode[std::to_string(b)] = {{"tok_s", d.tok_s}, {"step_ms", d.step_ms}};
    std::fprintf(stderr, "bench-engine: %s %s decode batch %d: %.1f tok/s (step %.2f ms)\n", spec.label.c_str(),
                 spec.type.c_str(), b, d.tok_s, d.step_ms);
    if (b == 1) {
      const double ideal_s = static_cast<double>(per_token) / (bandwidth_gbs * 1e9);
      j["decode1_step_ms"] = d.step_ms;
      j["roofline_step_ms"] = ideal_s * 1000.0;
      j["roofline_ratio"] = ideal_s / (d.step_ms / 1000.0);
    }
  }
  j["decode"] = decode;
  return j;
}

}  // namespace rs::bench
