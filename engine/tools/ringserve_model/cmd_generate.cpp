// `ringserve-model generate FILE PROMPT [...]`: runs one request through the Engine,
// streaming the text to stdout token by token; usage on stderr at the end.
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
    for (const auto& t : r.tokens) {
      out->generated.push_back(t.token);
      emit(decoder.push(t.token));
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

}  // namespace

int run_generate(const GenerateOptions& opts) {
  if (opts.n_tokens < 0) return fail("-n must be >= 0");
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
  const int positions = static_cast<int>(prompt_ids.size()) + opts.n_tokens + 1;
  cfg.kv_blocks = (positions + cfg.kv_block_tokens - 1) / cfg.kv_block_tokens + 1;
  auto eng = engine::Engine::create(*model, cfg);
  if (!eng.ok()) return fail("engine", eng.status());

  engine::GenerationRequest req;
  req.prompt_tokens = prompt_ids;
  req.sampling = sampling_from(opts);
  req.max_tokens = opts.n_tokens;
  auto seq = (*eng)->submit(std::move(req));
  if (!seq.ok()) return fail("submit", seq.status());

  RunOutput out;
  if (Status s = run_to_end(**eng, opts.json, &out); !s.ok()) return fail("generate", s);
  if (opts.json) {
    nlohmann::json j{{"prompt_ids", prompt_ids}, {"generated_ids", out.generated}, {"text", out.text}};
    std::printf("%s\n", dump_json(j).c_str());
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
