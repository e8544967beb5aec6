// Engine: submit/validate, one batched forward per step, sampling, detokenization,
// stop conditions and usage accounting. Batching decisions live in the Scheduler.
#include "rs/engine/engine.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <unordered_map>

#include "rs/engine/kv_cache.h"
#include "rs/engine/scheduler.h"
#include "rs/engine/thread_pool.h"
#include "sequence.h"

namespace rs::engine {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kEos: return "eos";
    case FinishReason::kLength: return "length";
    case FinishReason::kStop: return "stop";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "unknown";
}

namespace {

// A prompt-logprobs sequence keeps the logits of every position of its chunk for a step:
// its chunks are cut to about 16 MiB of them (64 positions at a 65536-token vocabulary,
// 27 at Qwen's 151936; a small vocabulary keeps the whole step budget).
constexpr int64_t kPromptLogitFloats = int64_t{4} << 20;
int prompt_logprob_chunk_tokens(int n_vocab) {
  return static_cast<int>(std::max<int64_t>(1, kPromptLogitFloats / std::max(1, n_vocab)));
}

SchedulerConfig scheduler_config(const EngineConfig& c) {
  SchedulerConfig s;
  s.max_batch_size = c.max_batch_size;
  s.max_batch_tokens = c.max_batch_tokens;
  s.max_context = c.max_context;
  s.batch_timeout_ms = c.batch_timeout_ms;
  s.prefix_cache = c.prefix_cache;
  return s;
}

Status validate_sampling(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
    return invalid_argument("temperature must be a finite value >= 0");
  }
  if (p.top_k < 0) return invalid_argument("top_k must be >= 0 (0: off)");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return invalid_argument("top_p must be in (0, 1]");
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return invalid_argument("min_p must be in [0, 1]");
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) {
    return invalid_argument("repetition_penalty must be a finite value > 0");
  }
  if (p.repeat_last_n < -1) return invalid_argument("repeat_last_n must be >= -1 (-1: whole history)");
  return Status();
}

Status validate_request(const GenerationRequest& r) {
  RS_RETURN_IF_ERROR(validate_sampling(r.sampling));
  if (r.max_tokens < 0 || (r.max_tokens == 0 && !r.prompt_logprobs)) {
    return invalid_argument("max_tokens must be >= 1 (0 only with prompt_logprobs)");
  }
  if (r.top_logprobs < 0 || r.top_logprobs > kMaxTopLogprobs) {
    return invalid_argument("top_logprobs must be in [0, " + std::to_string(kMaxTopLogprobs) + "]");
  }
  if (r.prompt_logprobs && (*r.prompt_logprobs < 0 || *r.prompt_logprobs > kMaxTopLogprobs)) {
    return invalid_argument("prompt_logprobs must be in [0, " + std::to_string(kMaxTopLogprobs) + "]");
  }
  for (const std::string& s : r.stop) {
    if (s.empty()) return invalid_argument("stop strings must not be empty");
  }
  return Status();
}

Status check_token_ids(std::span<const int32_t> tokens, int32_t n_vocab, const char* what) {
  for (int32_t t : tokens) {
    if (t < 0 || t >= n_vocab) {
      return invalid_argument(std::string(what) + " token id " + std::to_string(t) +
                              " outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
    }
  }
  return Status();
}

}  // namespace

struct Engine::Impl {
  Impl(const Model& m, const EngineConfig& c)
      : model(m),
        config(c),
        clock(c.clock != nullptr ? c.clock : &SteadyClock::instance()),
        kv(m.kv_config(c.kv_block_tokens, c.kv_blocks, c.kv_cache_type)),
        pool(c.n_threads),
        sched(kv, scheduler_config(c), clock) {
    kv.set_prefix_cache_enabled(c.prefix_cache);
  }

  FinishEvent make_finish(const EngineSeq& s, FinishReason reason, const Status& error = {}) const;
  void finish(SeqId id, FinishReason reason, StepResult& r, const Status& error = {});
  void note_scheduled(const SchedulerOutput& out);
  Status run_forward(const SchedulerOutput& out, size_t* n_logits);
  bool wants_all_logits(const ScheduledChunk& c) const;
  void collect_prompt_logprobs(EngineSeq& s, const ScheduledChunk& c, std::span<const float> rows,
                               StepResult& r);
  void emit_token(EngineSeq& s, std::span<const float> logits, StepResult& r);
  std::optional<FinishReason> advance(EngineSeq& s, int32_t token, int max_tokens,
                                      std::string* piece) const;
  std::optional<FinishReason> replay(EngineSeq& s, std::span<const int32_t> resumed,
                                     int max_tokens) const;
  Result<SeqId> add(GenerationRequest& request, std::vector<int32_t> tokens);

  const Model& model;
  EngineConfig config;
  const Clock* clock;
  KvCache kv;
  ThreadPool pool;
  Scheduler sched;
  ModelWorkspace ws;
  std::vector<float> logits;
  std::vector<ForwardSeq> batch;
  std::unordered_map<SeqId, std::unique_ptr<EngineSeq>> seqs;
  std::vector<FinishEvent> pending_finishes;  // cancelled since the last step
  SeqId next_id = 1;
};

FinishEvent Engine::Impl::make_finish(const EngineSeq& s, FinishReason reason, const Status& error) const {
  const int64_t now = clock->now_ns();
  FinishEvent f;
  f.seq = s.id;
  f.reason = reason;
  if (!error.ok()) {
    f.error = error.to_string();
    f.error_code = error.code();
  }
  Usage& u = f.usage;
  u.prompt_tokens = s.n_prompt;
  u.completion_tokens = s.n_generated;
  u.cached_prompt_tokens = std::max(0, s.cached_prompt_tokens);
  u.queue_ms = static_cast<double>((s.first_scheduled_ns >= 0 ? s.first_scheduled_ns : now) - s.submit_ns) / 1e6;
  u.ttft_ms = s.first_token_ns >= 0 ? static_cast<double>(s.first_token_ns - s.submit_ns) / 1e6 : 0.0;
  const int n_emitted = s.n_generated - s.n_resumed;  // by this attempt: the timed ones
  if (n_emitted > 1 && s.last_token_ns > s.first_token_ns) {
    const double seconds = static_cast<double>(s.last_token_ns - s.first_token_ns) / 1e9;
    u.decode_tps = (n_emitted - 1) / seconds;
  }
  u.total_ms = static_cast<double>(now - s.submit_ns) / 1e6;
  if (const SchedSeq* q = sched.find(s.id)) u.preemptions = q->n_preemptions;
  return f;
}

void Engine::Impl::finish(SeqId id, FinishReason reason, StepResult& r, const Status& error) {
  auto it = seqs.find(id);
  if (it == seqs.end()) return;
  r.finished.push_back(make_finish(*it->second, reason, error));
  sched.remove(id);
  seqs.erase(it);
}

void Engine::Impl::note_scheduled(const SchedulerOutput& out) {
  const int64_t now = clock->now_ns();
  for (const ScheduledChunk& c : out.chunks) {
    auto it = seqs.find(c.seq);
    if (it == seqs.end()) continue;
    EngineSeq& s = *it->second;
    if (s.first_scheduled_ns < 0) s.first_scheduled_ns = now;
    if (c.first_schedule && s.cached_prompt_tokens < 0) {
      s.cached_prompt_tokens = std::min(s.n_prompt, sched.find(c.seq)->cached_tokens);
    }
  }
}

Status Engine::Impl::run_forward(const SchedulerOutput& out, size_t* n_logits) {
  batch.clear();
  *n_logits = 0;
  for (const ScheduledChunk& c : out.chunks) {
    const SchedSeq* q = sched.find(c.seq);
    ForwardSeq f;
    f.tokens = std::span<const int32_t>(q->tokens).subspan(static_cast<size_t>(c.pos0), static_cast<size_t>(c.n_tokens));
    f.pos0 = c.pos0;
    f.blocks = q->blocks;
    f.want_logits = c.needs_logits;
    f.want_all_logits = wants_all_logits(c);
    batch.push_back(f);
    *n_logits += f.want_all_logits ? static_cast<size_t>(c.n_tokens) : (c.needs_logits ? 1 : 0);
  }
  RS_RETURN_IF_ERROR(model.forward(batch, kv, pool, ws, &logits, config.kernel_path));
  const size_t n_vocab = static_cast<size_t>(model.config().n_vocab);
  if (logits.size() != *n_logits * n_vocab) {
    return internal_error("forward returned " + std::to_string(logits.size()) + " logits, expected " +
                          std::to_string(*n_logits * n_vocab));
  }
  return Status();
}

// A chunk of a sequence still collecting prompt logprobs: every row's logits are wanted.
bool Engine::Impl::wants_all_logits(const ScheduledChunk& c) const {
  auto it = seqs.find(c.seq);
  if (it == seqs.end()) return false;
  const EngineSeq& s = *it->second;
  return s.prompt_logprobs.has_value() && !s.prompt_lp_sent && c.pos0 < s.n_prompt - 1;
}

// rows: the chunk's logits, one row per token. Row i (position pos0 + i) gives prompt
// position pos0 + i + 1; positions already collected (before a preemption) are skipped.
// The event goes out once every position is in.
void Engine::Impl::collect_prompt_logprobs(EngineSeq& s, const ScheduledChunk& c,
                                           std::span<const float> rows, StepResult& r) {
  const SchedSeq* q = sched.find(s.id);
  const size_t n_vocab = static_cast<size_t>(model.config().n_vocab);
  for (int i = 0; i < c.n_tokens; ++i) {
    const int pos = c.pos0 + i + 1;
    if (pos >= s.n_prompt) break;
    if (pos != static_cast<int>(s.prompt_lp.size()) + 1) continue;
    const std::span<const float> row = rows.subspan(static_cast<size_t>(i) * n_vocab, n_vocab);
    const LogSoftmax norm = LogSoftmax::of(row);
    PromptLogprob p;
    p.token = q->tokens[static_cast<size_t>(pos)];
    p.logprob = norm.logprob(row, p.token);
    top_logprobs(row, norm, *s.prompt_logprobs, &p.top);
    s.prompt_lp.push_back(std::move(p));
  }
  if (static_cast<int>(s.prompt_lp.size()) == s.n_prompt - 1) {
    r.prompt_logprobs.push_back({s.id, q->tokens[0], std::move(s.prompt_lp)});
    s.prompt_lp.clear();
    s.prompt_lp_sent = true;
  }
}

void Engine::Impl::emit_token(EngineSeq& s, std::span<const float> row, StepResult& r) {
  const SchedSeq* q = sched.find(s.id);
  if (q->max_tokens == 0) {  // prompt logprobs only: nothing to sample
    finish(s.id, FinishReason::kLength, r);
    return;
  }
  TokenEvent ev;
  ev.seq = s.id;
  ev.index = s.n_generated;
  ev.token = s.sampler.sample(row, q->tokens, ev.index, &ev.logprob);
  if (s.top_logprobs > 0) top_logprobs(row, LogSoftmax::of(row), s.top_logprobs, &ev.top);
  const int64_t now = clock->now_ns();
  if (s.first_token_ns < 0) s.first_token_ns = now;
  s.last_token_ns = now;
  const std::optional<FinishReason> end = advance(s, ev.token, q->max_tokens, &ev.piece);
  const SeqId id = s.id;
  const int32_t token = ev.token;
  r.tokens.push_back(std::move(ev));
  if (end) {
    finish(id, *end, r);
  } else {
    sched.append_token(id, token);
  }
}

// Counts `token` as the next completion token and runs it through the detokenizer and the
// stop matcher: *piece is the text it releases, the result the reason it ends the sequence
// (if it does). Emitted and resumed tokens both go through here, so a resumed sequence holds
// the same partial UTF-8 bytes and held-back stop-string text as the uninterrupted run did.
std::optional<FinishReason> Engine::Impl::advance(EngineSeq& s, int32_t token, int max_tokens,
                                                  std::string* piece) const {
  ++s.n_generated;
  const bool eog = !s.ignore_eos && model.tokenizer().is_eog(token);
  bool stopped = false;
  *piece = s.stop.push(eog ? std::string() : s.decoder.push(token), &stopped);
  if (stopped) return FinishReason::kStop;
  FinishReason reason = FinishReason::kEos;
  if (!eog) {
    if (s.n_generated < max_tokens) return std::nullopt;
    reason = FinishReason::kLength;
  }
  *piece += s.stop.push(s.decoder.flush(), &stopped);  // the end: release what was held back
  if (stopped) return FinishReason::kStop;
  *piece += s.stop.flush();
  return reason;
}

// Resume from the log: the already delivered tokens advance the sequence's state as their
// emission did, their text discarded. The reason the job ends, if one of them ends it.
std::optional<FinishReason> Engine::Impl::replay(EngineSeq& s, std::span<const int32_t> resumed,
                                                 int max_tokens) const {
  std::string discarded;
  for (int32_t token : resumed) {
    if (std::optional<FinishReason> end = advance(s, token, max_tokens, &discarded)) return end;
  }
  return std::nullopt;
}

// Queues the sequence (prompt + resumed tokens) and replays its resumed tokens; a sequence
// they already end finishes at the next step() without running.
Result<SeqId> Engine::Impl::add(GenerationRequest& request, std::vector<int32_t> tokens) {
  const int n_prompt = static_cast<int>(tokens.size());
  const SeqId id = next_id++;
  RS_RETURN_IF_ERROR(sched.add(id, std::move(tokens), request.max_tokens, request.priority,
                               request.resume_tokens, !request.prompt_logprobs.has_value()));
  if (request.prompt_logprobs) {  // every prefill position's logits are kept for a step
    sched.limit_chunks(id, prompt_logprob_chunk_tokens(model.config().n_vocab));
  }
  auto seq = std::make_unique<EngineSeq>(id, request, model.tokenizer(), clock->now_ns());
  seq->n_prompt = n_prompt;
  seq->n_resumed = static_cast<int>(request.resume_tokens.size());
  const int max_tokens = sched.find(id)->max_tokens;  // within max_context
  if (std::optional<FinishReason> end = replay(*seq, request.resume_tokens, max_tokens)) {
    seq->n_resumed = seq->n_generated;
    pending_finishes.push_back(make_finish(*seq, *end));
    sched.remove(id);
    return id;
  }
  seqs.emplace(id, std::move(seq));
  return id;
}

Engine::Engine(std::shared_ptr<const Model> model, EngineConfig config)
    : model_(std::move(model)), config_(config) {
  impl_ = std::make_unique<Impl>(*model_, config_);
}

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::create(std::shared_ptr<const Model> model, EngineConfig config) {
  if (model == nullptr) return invalid_argument("Engine::create: no model");
  if (config.max_batch_size < 1) return invalid_argument("max_batch_size must be >= 1");
  if (config.max_batch_tokens < 1) return invalid_argument("max_batch_tokens must be >= 1");
  if (config.kv_block_tokens < 1) return invalid_argument("kv_block_tokens must be >= 1");
  if (config.kv_blocks < 0) return invalid_argument("kv_blocks must be >= 0 (0: automatic)");
  if (config.max_context < 0) return invalid_argument("max_context must be >= 0 (0: automatic)");
  if (config.batch_timeout_ms < 0) return invalid_argument("batch_timeout_ms must be >= 0");
  const int ctx = model->config().context_length;
  if (config.max_context == 0) config.max_context = ctx > 0 ? std::min(ctx, 4096) : 4096;
  if (ctx > 0 && config.max_context > ctx) {
    return invalid_argument("max_context " + std::to_string(config.max_context) +
                            " exceeds the model's context_length " + std::to_string(ctx));
  }
  if (config.kv_blocks == 0) {
    const int per_seq = (config.max_context + config.kv_block_tokens - 1) / config.kv_block_tokens;
    config.kv_blocks = per_seq * config.max_batch_size;
  }
  if (config.clock == nullptr) config.clock = &SteadyClock::instance();
  return std::unique_ptr<Engine>(new Engine(std::move(model), config));
}

Result<SeqId> Engine::submit(GenerationRequest request) {
  RS_RETURN_IF_ERROR(validate_request(request));
  const Tokenizer& tok = model_->tokenizer();
  std::vector<int32_t> tokens;
  if (request.chat) {
    RS_ASSIGN_OR_RETURN(tokens, model_->chat_prompt(*request.chat));
  } else {
    tokens = request.prompt_tokens.empty() ? tok.encode(request.prompt, request.add_bos)
                                           : std::move(request.prompt_tokens);
  }
  if (tokens.empty()) return invalid_argument("empty prompt: it tokenizes to no tokens");
  const int32_t n_vocab = model_->config().n_vocab;
  RS_RETURN_IF_ERROR(check_token_ids(tokens, n_vocab, "prompt"));
  RS_RETURN_IF_ERROR(check_token_ids(request.resume_tokens, n_vocab, "resume"));
  return impl_->add(request, std::move(tokens));
}

bool Engine::cancel(SeqId seq) {
  auto it = impl_->seqs.find(seq);
  if (it == impl_->seqs.end()) return false;
  impl_->pending_finishes.push_back(impl_->make_finish(*it->second, FinishReason::kCancelled));
  impl_->sched.remove(seq);
  impl_->seqs.erase(it);
  return true;
}

StepResult Engine::step() {
  Impl& m = *impl_;
  StepResult r;
  r.finished = std::move(m.pending_finishes);
  m.pending_finishes.clear();
  SchedulerOutput out = m.sched.schedule();
  r.n_preempted = static_cast<int>(out.preempted.size());
  if (out.empty()) return r;
  r.n_seqs = static_cast<int>(out.chunks.size());
  r.n_tokens = out.n_tokens;
  m.note_scheduled(out);

  size_t n_logits = 0;
  Status st = m.run_forward(out, &n_logits);
  if (!st.ok()) {  // fail this batch's sequences; the engine stays usable
    for (const ScheduledChunk& c : out.chunks) m.finish(c.seq, FinishReason::kError, r, st);
    return r;
  }
  m.sched.commit(out);
  const size_t n_vocab = static_cast<size_t>(m.model.config().n_vocab);
  size_t row = 0;
  for (size_t i = 0; i < out.chunks.size(); ++i) {
    const ScheduledChunk& c = out.chunks[i];
    const ForwardSeq& f = m.batch[i];
    const size_t n_rows = f.want_all_logits ? static_cast<size_t>(c.n_tokens) : (c.needs_logits ? 1 : 0);
    const std::span<const float> rows = std::span<const float>(m.logits).subspan(row * n_vocab, n_rows * n_vocab);
    row += n_rows;
    auto it = m.seqs.find(c.seq);
    if (it == m.seqs.end()) continue;
    EngineSeq& s = *it->second;
    if (s.prompt_logprobs && !s.prompt_lp_sent && (f.want_all_logits || c.needs_logits)) {
      m.collect_prompt_logprobs(s, c, rows, r);  // a one-token prompt: an empty event
    }
    if (c.needs_logits) m.emit_token(s, rows.subspan(rows.size() - n_vocab), r);
  }
  return r;
}

bool Engine::has_work() const { return impl_->sched.has_work() || !impl_->pending_finishes.empty(); }
int Engine::n_running() const { return impl_->sched.n_running(); }
int Engine::n_waiting() const { return impl_->sched.n_waiting(); }
int Engine::kv_free_blocks() const { return impl_->kv.n_free_blocks(); }
int Engine::kv_total_blocks() const { return impl_->kv.n_blocks(); }
int64_t Engine::n_preemptions() const { return impl_->sched.n_preemptions(); }

}  // namespace rs::engine
