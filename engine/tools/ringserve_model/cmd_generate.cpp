// `ringserve-model generate FILE PROMPT [...]`: runs one request through the Engine,
// streaming the text to stdout token by token; usage on stderr at the end. With --json,
// one object at the end (ids, text, and with --logprobs/--prompt-logprobs the logprobs).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "gguf_util.h"
#include "rs/engine/engine.h"

namespace rs::tool {
namespace {

engine::SamplingParams sampling_from(const GenerateOptions& o) {
  engine::SamplingParams s;
  s.temperature = o.temperature;
  s.top_k = o.top_k;
  s.top_p = o.top_p;
  s.min_p = o.min_p;
  s.repetition_penalty = o.repeat_penalty;
  if (o.seed >= 0) s.seed = static_cast<uint64_t>(o.seed);
  return s;
}

struct RunOutput {
  std::vector<int32_t> generated;
  std::vector<engine::TokenEvent> events;          // with their logprobs and alternatives
  std::vector<engine::PromptLogprob> prompt_logprobs;
  std::string text;
  engine::FinishEvent finish;
  bool finished = false;
};

// Steps the engine until the request finishes, streaming text unless quiet.
Status run_to_end(engine::Engine& eng, bool quiet, RunOutput* out) {
  engine::StreamDecoder decoder(eng.model().tokenizer());
  auto emit = [&](const std::string& chunk) {
    out->text += chunk;
    if (!quiet && !chunk.empty()) {
      std::fwrite(chunk.data(), 1, chunk.size(), stdout);
      std::fflush(stdout);
    }
  };
  while (!out->finished && eng.has_work()) {
    engine::StepResult r = eng.step();
    for (auto& p : r.prompt_logprobs) out->prompt_logprobs = std::move(p.positions);
    for (auto& t : r.tokens) {
      out->generated.push_back(t.token);
      emit(decoder.push(t.token));
      out->events.push_back(std::move(t));
    }
    for (const auto& f : r.finished) {
      out->finish = f;
      out->finished = true;
    }
  }
  emit(decoder.flush());
  if (!quiet) {
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  if (!out->finished) return internal_error("engine ran out of work before the request finished");
  if (out->finish.reason == engine::FinishReason::kError) return internal_error(out->finish.error);
  return Status();
}

// {"token": id, "text": piece, "logprob": x}: text is the token's bytes (invalid UTF-8
// replaced when printed).
nlohmann::json logprob_json(const engine::Tokenizer& tok, int32_t token, float logprob) {
  return {{"token", token}, {"text", tok.piece(token)}, {"logprob", logprob}};
}

nlohmann::json with_top(nlohmann::json j, const engine::Tokenizer& tok,
                        const std::vector<engine::TokenLogprob>& top) {
  nlohmann::json alts = nlohmann::json::array();
  for (const engine::TokenLogprob& a : top) alts.push_back(logprob_json(tok, a.token, a.logprob));
  j["top"] = std::move(alts);
  return j;
}

// The --json object: ids and text, then "prompt_logprobs" (null for position 0) and
// "logprobs" (one per generated token) when asked for.
nlohmann::json output_json(const GenerateOptions& opts, const engine::Tokenizer& tok,
                           const std::vector<int32_t>& prompt_ids, const RunOutput& out) {
  nlohmann::json j{{"prompt_ids", prompt_ids}, {"generated_ids", out.generated}, {"text", out.text}};
  if (opts.prompt_logprobs >= 0) {
    nlohmann::json p = nlohmann::json::array({nullptr});
    for (const engine::PromptLogprob& lp : out.prompt_logprobs) {
      p.push_back(with_top(logprob_json(tok, lp.token, lp.logprob), tok, lp.top));
    }
    j["prompt_logprobs"] = std::move(p);
  }
  if (opts.logprobs >= 0) {
    nlohmann::json g = nlohmann::json::array();
    for (const engine::TokenEvent& t : out.events) {
      g.push_back(with_top(logprob_json(tok, t.token, t.logprob), tok, t.top));
    }
    j["logprobs"] = std::move(g);
  }
  return j;
}

}  // namespace

int run_generate(const GenerateOptions& opts) {
  if (opts.n_tokens < 0) return fail("-n must be >= 0");
  if (opts.logprobs > engine::kMaxTopLogprobs || opts.prompt_logprobs > engine::kMaxTopLogprobs) {
    return fail("--logprobs and --prompt-logprobs take at most 20 alternatives");
  }
  auto file = open_gguf(opts.file);
  if (!file.ok()) return fail(opts.file, file.status());
  if (auto h = read_hparams(**file); !h.ok()) return fail(opts.file, h.status());
  auto model = engine::Model::from_gguf(std::move(*file));
  if (!model.ok()) return fail(opts.file, model.status());
  const engine::Tokenizer& tok = (*model)->tokenizer();
  std::vector<int32_t> prompt_ids = tok.encode(opts.prompt, true);
  if (prompt_ids.empty()) return fail("the prompt tokenizes to nothing");

  engine::EngineConfig cfg;
  cfg.max_batch_size = 1;
  cfg.n_threads = opts.threads;
  cfg.kv_cache_type = engine::parse_kv_cache_type(opts.kv_cache_type).value_or(engine::KvCacheType::kF16);
  const int positions = static_cast<int>(prompt_ids.size()) + opts.n_tokens + 1;
  cfg.kv_blocks = (positions + cfg.kv_block_tokens - 1) / cfg.kv_block_tokens + 1;
  auto eng = engine::Engine::create(*model, cfg);
  if (!eng.ok()) return fail("engine", eng.status());

  engine::GenerationRequest req;
  req.prompt_tokens = prompt_ids;
  req.sampling = sampling_from(opts);
  req.max_tokens = opts.n_tokens;
  req.top_logprobs = std::max(opts.logprobs, 0);
  if (opts.prompt_logprobs >= 0) req.prompt_logprobs = opts.prompt_logprobs;
  auto seq = (*eng)->submit(std::move(req));
  if (!seq.ok()) return fail("submit", seq.status());

  RunOutput out;
  if (Status s = run_to_end(**eng, opts.json, &out); !s.ok()) return fail("generate", s);
  if (opts.json) {
    std::printf("%s\n", dump_json(output_json(opts, tok, prompt_ids, out)).c_str());
    std::fflush(stdout);
  }
  const engine::Usage& u = out.finish.usage;
  std::fprintf(stderr,
               "usage: prompt_tokens=%d completion_tokens=%d ttft_ms=%.1f decode_tok_s=%.2f "
               "finish=%s\n",
               u.prompt_tokens, u.completion_tokens, u.ttft_ms, u.decode_tps,
               engine::finish_reason_name(out.finish.reason));
  return 0;
}

}  // namespace rs::tool
