// The batched forward pass: every token of every slice goes through each weight matrix
// in one matmul per layer; attention runs per (token, head) against each sequence's own
// paged K/V. Per-row ops and per-head attention use a fixed reduction order that does
// not depend on the batch composition or the thread split (batch invariance).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "attention.h"
#include "rs/engine/model.h"
#include "rs/engine/thread_pool.h"

namespace rs::engine {

class ForwardPass {
 public:
  ForwardPass(const Model& m, std::span<const ForwardSeq> batch, KvCache& kv, ThreadPool& pool,
              ModelWorkspace& ws, KernelPath path)
      : m_(m), c_(m.config_), batch_(batch), kv_(kv), pool_(pool), ws_(ws), path_(path) {}

  Status run(std::vector<float>* logits);

 private:
  Status validate() const;
  Status validate_slice(const ForwardSeq& s, size_t index) const;
  void prepare();
  void build_attn_groups();
  void embed();
  void attention_block(int layer);
  void attend_all(int layer);
  void attend_decode(int layer, const AttnGeometry& g);
  void ffn_block(int layer);
  void compute_logits(std::vector<float>* logits);
  void norm_rows(const float* in, const float* weight, float* out, int64_t n_rows);
  void matmul(const WeightView& w, const float* x, int64_t n_rows, float* y) {
    rs::engine::matmul(w, x, n_rows, y, &pool_, path_);
  }
  // fn(row) for row < n_rows, on the pool when the work is large enough.
  template <typename Fn>
  void for_rows(int64_t n_rows, int64_t row_cost, Fn fn);

  const Model& m_;
  const ModelConfig& c_;
  std::span<const ForwardSeq> batch_;
  KvCache& kv_;
  ThreadPool& pool_;
  ModelWorkspace& ws_;
  KernelPath path_;
  int64_t n_ = 0;       // tokens in the batch
  int64_t q_dim_ = 0;
  int64_t kv_dim_ = 0;
  int32_t max_pos_ = 0;
  int64_t scores_rows_ = 0;  // score rows per thread
};

Status Model::forward(std::span<const ForwardSeq> batch, KvCache& kv, ThreadPool& pool,
                      ModelWorkspace& ws, std::vector<float>* logits, KernelPath path) const {
  ForwardPass pass(*this, batch, kv, pool, ws, path);
  return pass.run(logits);
}

template <typename Fn>
void ForwardPass::for_rows(int64_t n_rows, int64_t row_cost, Fn fn) {
  if (pool_.n_threads() <= 1 || n_rows < 2 || n_rows * row_cost < (int64_t{1} << 15)) {
    for (int64_t r = 0; r < n_rows; ++r) fn(r);
    return;
  }
  pool_.parallel_for(n_rows, [&](int, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fn(r);
  });
}

Status ForwardPass::validate_slice(const ForwardSeq& s, size_t index) const {
  const std::string where = "forward: slice " + std::to_string(index) + ": ";
  if (s.tokens.empty()) return invalid_argument(where + "no tokens");
  const int64_t end = int64_t{s.pos0} + static_cast<int64_t>(s.tokens.size());
  if (s.pos0 < 0 || end > c_.context_length) {
    return invalid_argument(where + "positions " + std::to_string(s.pos0) + ".." + std::to_string(end - 1) +
                            " outside the context of " + std::to_string(c_.context_length));
  }
  const int64_t need = kv_.blocks_for(end);
  if (static_cast<int64_t>(s.blocks.size()) < need) {
    return invalid_argument(where + std::to_string(s.blocks.size()) + " blocks do not cover " +
                            std::to_string(end) + " positions");
  }
  for (int64_t b = 0; b < need; ++b) {
    const BlockId id = s.blocks[static_cast<size_t>(b)];
    if (id < 0 || id >= kv_.n_blocks()) return invalid_argument(where + "block id out of range");
  }
  for (int32_t t : s.tokens) {
    if (t < 0 || t >= c_.n_vocab) return invalid_argument(where + "token id " + std::to_string(t) + " out of range");
  }
  return {};
}

Status ForwardPass::validate() const {
  const KvCacheConfig& kc = kv_.config();
  if (kc.n_layers != c_.n_layers || kc.n_kv_heads != c_.n_kv_heads || kc.head_dim != c_.head_dim) {
    return invalid_argument("forward: KV cache geometry does not match the model");
  }
  for (size_t i = 0; i < batch_.size(); ++i) RS_RETURN_IF_ERROR(validate_slice(batch_[i], i));
  return {};
}

void ForwardPass::prepare() {
  n_ = 0;
  max_pos_ = 0;
  for (const ForwardSeq& s : batch_) n_ += static_cast<int64_t>(s.tokens.size());
  q_dim_ = int64_t{c_.n_heads} * c_.head_dim;
  kv_dim_ = int64_t{c_.n_kv_heads} * c_.head_dim;
  auto grow = [](auto& v, int64_t size) {
    if (static_cast<int64_t>(v.size()) < size) v.resize(static_cast<size_t>(size));
  };
  const int64_t wide = std::max<int64_t>(c_.dim, q_dim_);
  grow(ws_.x, n_ * c_.dim);
  grow(ws_.xb, n_ * wide);
  grow(ws_.xb2, n_ * wide);
  grow(ws_.q, n_ * q_dim_);
  grow(ws_.k, n_ * kv_dim_);
  grow(ws_.v, n_ * kv_dim_);
  grow(ws_.att_out, n_ * q_dim_);
  grow(ws_.hb, n_ * c_.ffn_dim);
  grow(ws_.hb2, n_ * c_.ffn_dim);
  grow(ws_.token_seq, n_);
  grow(ws_.token_pos, n_);
  const int64_t half = c_.rope_dims / 2;
  grow(ws_.rope_cos, n_ * half);
  grow(ws_.rope_sin, n_ * half);
  const RopeParams rp{c_.rope_dims, c_.rope_base, c_.rope_freq_scale, c_.rope_neox};
  int64_t t = 0;
  for (size_t i = 0; i < batch_.size(); ++i) {
    const ForwardSeq& s = batch_[i];
    for (size_t j = 0; j < s.tokens.size(); ++j, ++t) {
      const int32_t pos = s.pos0 + static_cast<int32_t>(j);
      ws_.token_seq[static_cast<size_t>(t)] = static_cast<int32_t>(i);
      ws_.token_pos[static_cast<size_t>(t)] = pos;
      max_pos_ = std::max(max_pos_, pos);
      rope_tables(rp, pos, ws_.rope_cos.data() + t * half, ws_.rope_sin.data() + t * half);
    }
  }
  scores_rows_ = std::max<int64_t>(attn::kMaxQueries, c_.n_heads);
  grow(ws_.scores, int64_t{pool_.n_threads()} * scores_rows_ * (max_pos_ + 1));
  build_attn_groups();
}

// Runs of up to attn::kMaxQueries consecutive tokens of one slice share K/V reads.
void ForwardPass::build_attn_groups() {
  ws_.attn_groups.clear();
  int64_t t = 0;
  for (const ForwardSeq& s : batch_) {
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    for (int64_t j = 0; j < n; j += attn::kMaxQueries) {
      ws_.attn_groups.push_back(static_cast<int32_t>(t + j));
      ws_.attn_groups.push_back(static_cast<int32_t>(std::min<int64_t>(attn::kMaxQueries, n - j)));
    }
    t += n;
  }
}

void ForwardPass::embed() {
  const TensorInfo& e = *m_.token_embd_;
  const int64_t row_bytes = ggml_row_bytes(e.type, c_.dim);
  int64_t t = 0;
  for (const ForwardSeq& s : batch_) {
    for (int32_t id : s.tokens) {
      dequantize_row(e.type, e.data + static_cast<int64_t>(id) * row_bytes, ws_.x.data() + t * c_.dim, c_.dim);
      ++t;
    }
  }
}

void ForwardPass::norm_rows(const float* in, const float* weight, float* out, int64_t n_rows) {
  const int64_t d = c_.dim;
  const float eps = c_.rms_eps;
  for_rows(n_rows, d, [&](int64_t r) { rms_norm(in + r * d, weight, out + r * d, d, eps); });
}

void ForwardPass::attention_block(int layer) {
  const Model::Layer& L = m_.layers_[static_cast<size_t>(layer)];
  norm_rows(ws_.x.data(), L.attn_norm, ws_.xb.data(), n_);
  {  // one activation preparation and one pool dispatch for Q, K and V
    const WeightView w[3] = {L.wq, L.wk, L.wv};
    float* const y[3] = {ws_.q.data(), ws_.k.data(), ws_.v.data()};
    matmul_multi(w, 3, ws_.xb.data(), n_, y, &pool_, path_);
  }
  const RopeParams rp{c_.rope_dims, c_.rope_base, c_.rope_freq_scale, c_.rope_neox};
  const int64_t half = c_.rope_dims / 2;
  for (int64_t t = 0; t < n_; ++t) {
    float* q = ws_.q.data() + t * q_dim_;
    float* k = ws_.k.data() + t * kv_dim_;
    float* v = ws_.v.data() + t * kv_dim_;
    if (L.bq != nullptr) {
      add_inplace(q, L.bq, q_dim_);
      add_inplace(k, L.bk, kv_dim_);
      add_inplace(v, L.bv, kv_dim_);
    }
    if (L.q_norm != nullptr) {  // qwen3: each head normalized on its own, before RoPE
      for (int h = 0; h < c_.n_heads; ++h) {
        float* qh = q + int64_t{h} * c_.head_dim;
        rms_norm(qh, L.q_norm, qh, c_.head_dim, c_.rms_eps);
      }
      for (int h = 0; h < c_.n_kv_heads; ++h) {
        float* kh = k + int64_t{h} * c_.head_dim;
        rms_norm(kh, L.k_norm, kh, c_.head_dim, c_.rms_eps);
      }
    }
    const float* cs = ws_.rope_cos.data() + t * half;
    const float* sn = ws_.rope_sin.data() + t * half;
    rope_apply(rp, q, c_.n_heads, c_.head_dim, cs, sn);
    rope_apply(rp, k, c_.n_kv_heads, c_.head_dim, cs, sn);
    const ForwardSeq& s = batch_[static_cast<size_t>(ws_.token_seq[static_cast<size_t>(t)])];
    kv_store(kv_, layer, s.blocks, ws_.token_pos[static_cast<size_t>(t)], k, v);
  }
  attend_all(layer);
  matmul(L.wo, ws_.att_out.data(), n_, ws_.xb2.data());
  for (int64_t t = 0; t < n_; ++t) add_inplace(ws_.x.data() + t * c_.dim, ws_.xb2.data() + t * c_.dim, c_.dim);
}

void ForwardPass::attend_all(int layer) {
  const AttnGeometry g{c_.n_heads, c_.n_kv_heads, c_.head_dim, 1.0f / std::sqrt(static_cast<float>(c_.head_dim)),
                       attention_uses_avx2(path_, c_.head_dim)};
  const int64_t n_groups = static_cast<int64_t>(ws_.attn_groups.size() / 2);
  const int64_t n_items = n_groups * c_.n_heads;
  const int n_threads = pool_.n_threads();
  const int64_t score_stride = max_pos_ + 1;
  if (g.avx2 && n_groups == n_ && c_.n_heads <= kMaxAttendHeads) {
    attend_decode(layer, g);
    return;
  }
  auto work = [&](int thread) {
    AttnBuffers buf;
    buf.q_stride = q_dim_;
    buf.out_stride = q_dim_;
    buf.scores = ws_.scores.data() + thread * score_stride * scores_rows_;
    buf.scores_stride = score_stride;
    // Head-major order keeps one head's K/V columns hot in cache across the groups of a
    // prefill chunk; the strided split balances groups that attend further.
    for (int64_t i = thread; i < n_items; i += n_threads) {
      const int64_t grp = i % n_groups;
      const int head = static_cast<int>(i / n_groups);
      const int64_t t = ws_.attn_groups[static_cast<size_t>(2 * grp)];
      const int n_q = ws_.attn_groups[static_cast<size_t>(2 * grp + 1)];
      const ForwardSeq& s = batch_[static_cast<size_t>(ws_.token_seq[static_cast<size_t>(t)])];
      const int64_t off = t * q_dim_ + int64_t{head} * c_.head_dim;
      buf.q = ws_.q.data() + off;
      buf.out = ws_.att_out.data() + off;
      attend_group(kv_, layer, s.blocks, ws_.token_pos[static_cast<size_t>(t)], n_q, head, g, buf);
    }
  };
  if (n_threads <= 1 || n_items < 2) {
    work(0);
  } else {
    pool_.run_on_all(work);
  }
}

// Every token its own group (decode): items are (token, run of heads), each walking the
// sequence's K/V rows once for all its heads (sequential reads); a lone token is split
// into a few head runs so that every thread gets work.
void ForwardPass::attend_decode(int layer, const AttnGeometry& g) {
  const int n_threads = pool_.n_threads();
  const int64_t split = std::clamp<int64_t>((2 * n_threads + n_ - 1) / n_, 1, c_.n_heads);
  const int64_t n_items = n_ * split;
  const int64_t score_stride = max_pos_ + 1;
  auto work = [&](int thread) {
    AttnBuffers buf;
    buf.scores = ws_.scores.data() + thread * score_stride * scores_rows_;
    buf.scores_stride = score_stride;
    for (int64_t i = thread; i < n_items; i += n_threads) {
      const int64_t t = i / split;
      const int64_t part = i % split;
      const int h0 = static_cast<int>(c_.n_heads * part / split);
      const int h1 = static_cast<int>(c_.n_heads * (part + 1) / split);
      const ForwardSeq& s = batch_[static_cast<size_t>(ws_.token_seq[static_cast<size_t>(t)])];
      buf.q = ws_.q.data() + t * q_dim_;
      buf.out = ws_.att_out.data() + t * q_dim_;
      attend_heads(kv_, layer, s.blocks, ws_.token_pos[static_cast<size_t>(t)], h0, h1, g, buf);
    }
  };
  if (n_threads <= 1 || n_items < 2) {
    work(0);
  } else {
    pool_.run_on_all(work);
  }
}

void ForwardPass::ffn_block(int layer) {
  const Model::Layer& L = m_.layers_[static_cast<size_t>(layer)];
  norm_rows(ws_.x.data(), L.ffn_norm, ws_.xb.data(), n_);
  {  // gate and up share one activation preparation and one pool dispatch
    const WeightView w[2] = {L.w_gate, L.w_up};
    float* const y[2] = {ws_.hb.data(), ws_.hb2.data()};
    matmul_multi(w, 2, ws_.xb.data(), n_, y, &pool_, path_);
  }
  const int64_t f = c_.ffn_dim;
  for_rows(n_, f * 8, [&](int64_t r) { silu_mul(ws_.hb.data() + r * f, ws_.hb2.data() + r * f, f); });
  matmul(L.w_down, ws_.hb.data(), n_, ws_.xb2.data());
  for (int64_t t = 0; t < n_; ++t) add_inplace(ws_.x.data() + t * c_.dim, ws_.xb2.data() + t * c_.dim, c_.dim);
}

void ForwardPass::compute_logits(std::vector<float>* logits) {
  ws_.logit_rows.clear();
  int64_t t = 0;
  for (const ForwardSeq& s : batch_) {
    const int64_t t0 = t;
    t += static_cast<int64_t>(s.tokens.size());
    if (s.want_all_logits) {
      for (int64_t r = t0; r < t; ++r) ws_.logit_rows.push_back(static_cast<int32_t>(r));
    } else if (s.want_logits) {
      ws_.logit_rows.push_back(static_cast<int32_t>(t - 1));
    }
  }
  const int64_t n_out = static_cast<int64_t>(ws_.logit_rows.size());
  logits->clear();
  if (n_out == 0) return;
  const int64_t d = c_.dim;
  for (int64_t i = 0; i < n_out; ++i) {
    const int64_t row = ws_.logit_rows[static_cast<size_t>(i)];
    rms_norm(ws_.x.data() + row * d, m_.output_norm_, ws_.xb.data() + i * d, d, c_.rms_eps);
  }
  logits->resize(static_cast<size_t>(n_out * c_.n_vocab));
  matmul(m_.output_, ws_.xb.data(), n_out, logits->data());
}

Status ForwardPass::run(std::vector<float>* logits) {
  if (logits == nullptr) return invalid_argument("forward: logits is null");
  RS_RETURN_IF_ERROR(validate());
  prepare();
  if (n_ == 0) {
    logits->clear();
    return {};
  }
  embed();
  for (int layer = 0; layer < c_.n_layers; ++layer) {
    attention_block(layer);
    ffn_block(layer);
  }
  compute_logits(logits);
  return {};
}

}  // namespace rs::engine
