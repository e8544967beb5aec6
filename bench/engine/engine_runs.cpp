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
                                                    int positions, const BenchParams& p) {
  engine::EngineConfig cfg;
  cfg.max_batch_size = batch;
  cfg.max_batch_tokens = 512;
  cfg.max_context = std::min(model->config().context_length > 0 ? model->config().context_length : 2048, 2048);
  cfg.kv_blocks = batch * ((positions + cfg.kv_block_tokens - 1) / cfg.kv_block_tokens + 1);
  cfg.n_threads = p.n_threads;
  cfg.kv_cache_type = p.kv_cache_type;
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
Result<double> prefill_seconds(std::shared_ptr<const engine::Model> model, int n, const BenchParams& p, uint64_t seed) {
  RS_ASSIGN_OR_RETURN(auto eng, make_engine(model, 1, n + 2, p));
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
  RS_ASSIGN_OR_RETURN(auto eng, make_engine(model, batch, n_prompt + p.decode_tokens + 2, p));
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

// Best (max) and median of repeated throughput figures.
struct Stat {
  double best = 0;
  double median = 0;
};

Stat stat_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stat s;
  s.best = v.back();
  const size_t n = v.size();
  s.median = n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return s;
}

nlohmann::json stat_json(const Stat& s, const std::vector<double>& runs) {
  return {{"tok_s", s.best}, {"tok_s_median", s.median}, {"runs", runs}};
}

// Prefill tok/s: one untimed warm-up run, then `reps` timed ones.
Result<nlohmann::json> bench_prefill(const ModelSpec& spec, std::shared_ptr<const engine::Model> model,
                                     const BenchParams& p) {
  RS_ASSIGN_OR_RETURN(double warm, prefill_seconds(model, p.prefill_tokens, p, 7));
  (void)warm;
  std::vector<double> runs;
  for (int r = 0; r < p.reps; ++r) {
    RS_ASSIGN_OR_RETURN(double s, prefill_seconds(model, p.prefill_tokens, p, 7));
    runs.push_back(p.prefill_tokens / s);
  }
  const Stat st = stat_of(runs);
  std::fprintf(stderr, "bench-engine: %s %s prefill%d %.1f tok/s (median %.1f)\n", spec.label.c_str(),
               spec.type.c_str(), p.prefill_tokens, st.best, st.median);
  return stat_json(st, runs);
}

// Decode of `batch` sequences: a short untimed warm-up run, then `reps` timed ones.
Result<nlohmann::json> bench_decode(const ModelSpec& spec, std::shared_ptr<const engine::Model> model,
                                    const BenchParams& p, int batch) {
  BenchParams warm = p;
  warm.decode_tokens = std::min(p.decode_tokens, 8);
  RS_ASSIGN_OR_RETURN(DecodeResult w, decode_run(model, warm, batch));
  (void)w;
  std::vector<double> runs, step_ms;
  for (int r = 0; r < p.reps; ++r) {
    RS_ASSIGN_OR_RETURN(DecodeResult d, decode_run(model, p, batch));
    runs.push_back(d.tok_s);
    step_ms.push_back(d.step_ms);
  }
  const Stat st = stat_of(runs);
  std::sort(step_ms.begin(), step_ms.end());
  std::fprintf(stderr, "bench-engine: %s %s decode batch %d: %.1f tok/s (median %.1f, step %.2f ms)\n",
               spec.label.c_str(), spec.type.c_str(), batch, st.best, st.median, step_ms.front());
  nlohmann::json j = stat_json(st, runs);
  j["step_ms"] = step_ms.front();
  return j;
}

}  // namespace

Result<nlohmann::json> bench_model(const ModelSpec& spec, const std::string& path, const BenchParams& p,
                                   double bandwidth_gbs) {
  RS_ASSIGN_OR_RETURN(auto model, engine::Model::load(path));
  const engine::ModelConfig& c = model->config();
  nlohmann::json j{{"label", spec.label}, {"type", spec.type}, {"path", path}, {"arch", c.arch},
                   {"dim", c.dim}, {"layers", c.n_layers}, {"heads", c.n_heads}, {"kv_heads", c.n_kv_heads},
                   {"ffn", c.ffn_dim}, {"vocab", c.n_vocab}, {"weight_bytes", c.weight_bytes},
                   {"reps", p.reps}};
  const uint64_t per_token = bytes_per_token(*model);
  j["weight_bytes_per_token"] = per_token;
  j["prefill_tokens"] = p.prefill_tokens;
  j["prefill_tok_s"] = 0.0;
  if (p.prefill_tokens > 0) {
    RS_ASSIGN_OR_RETURN(nlohmann::json pf, bench_prefill(spec, model, p));
    j["prefill_tok_s"] = pf["tok_s"];
    j["prefill_tok_s_median"] = pf["tok_s_median"];
    j["prefill_runs"] = pf["runs"];
  }
  nlohmann::json decode = nlohmann::json::object();
  for (int b : p.batch_sizes) {
    RS_ASSIGN_OR_RETURN(nlohmann::json d, bench_decode(spec, model, p, b));
    decode[std::to_string(b)] = d;
    if (b == 1) {
      const double ideal_s = static_cast<double>(per_token) / (bandwidth_gbs * 1e9);
      const double step_ms = d["step_ms"].get<double>();
      j["decode1_step_ms"] = step_ms;
      j["roofline_step_ms"] = ideal_s * 1000.0;
      j["roofline_ratio"] = ideal_s / (step_ms / 1000.0);
    }
  }
  j["decode"] = decode;
  return j;
}

}  // namespace rs::bench
