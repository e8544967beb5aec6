// Seeded mutation fuzzing of the GGUF reader: bit flips, interesting byte values,
// truncations and huge length/count fields, focused on the header region. Every mutated
// buffer must give an error or a valid GgufFile; a valid one must also load (or be
// rejected cleanly) by Tokenizer::from_gguf and Model::from_gguf, and for the small
// synthetic model a loaded one must generate a few tokens. Never a crash (ASan/UBSan).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "rs/engine/engine.h"
#include "rs/engine/gguf.h"
#include "rs/engine/kernels.h"
#include "rs/engine/model.h"
#include "rs/engine/tokenizer.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A 64-byte-aligned copy of the file (as mmap would give).
class AlignedBuffer {
 public:
  explicit AlignedBuffer(const std::vector<uint8_t>& bytes) : size_(bytes.size()) {
    data_ = static_cast<uint8_t*>(std::aligned_alloc(64, (size_ + 63) / 64 * 64 + 64));
    std::memcpy(data_, bytes.data(), size_);
  }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* data() { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Offsets of the length/count/type fields of a valid GGUF (walked once on the original),
// and where the tensor table ends (the header region the mutations focus on).
struct FieldMap {
  std::vector<size_t> u64_fields;  // counts, string/array lengths, dims, offsets
  std::vector<size_t> u32_fields;  // value types, n_dims, tensor types
  size_t header_end = 0;
};

class Walker {
 public:
  Walker(const std::vector<uint8_t>& b, FieldMap* m) : b_(b), m_(m) {}
  bool walk() {
    pos_ = 8;
    uint64_t n_tensors = 0, n_kv = 0;
    if (!u64(&n_tensors) || !u64(&n_kv)) return false;
    for (uint64_t i = 0; i < n_kv; ++i) {
      uint32_t type = 0;
      if (!skip_string() || !u32(&type) || !skip_value(type)) return false;
    }
    for (uint64_t i = 0; i < n_tensors; ++i) {
      uint32_t n_dims = 0, type = 0;
      if (!skip_string() || !u32(&n_dims)) return false;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t v = 0;
        if (!u64(&v)) return false;
      }
      uint64_t offset = 0;
      if (!u32(&type) || !u64(&offset)) return false;
    }
    m_->header_end = pos_;
    return true;
  }

 private:
  bool u64(uint64_t* v) {
    if (pos_ + 8 > b_.size()) return false;
    if (m_->u64_fields.size() < 4096) m_->u64_fields.push_back(pos_);
    std::memcpy(v, b_.data() + pos_, 8);
    pos_ += 8;
    return true;
  }
  bool u32(uint32_t* v) {
    if (pos_ + 4 > b_.size()) return false;
    if (m_->u32_fields.size() < 4096) m_->u32_fields.push_back(pos_);
    std::memcpy(v, b_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool skip_string() {
    uint64_t n = 0;
    if (!u64(&n) || n > b_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  static size_t scalar_size(uint32_t t) {
    switch (t) {
      case 0: case 1: case 7: return 1;
      case 2: case 3: return 2;
      case 4: case 5: case 6: return 4;
      case 10: case 11: case 12: return 8;
      default: return 0;
    }
  }
  bool skip_value(uint32_t type) {
    if (type == 8) return skip_string();
    if (type == 9) {
      uint32_t at = 0;
      uint64_t n = 0;
      if (!u32(&at) || !u64(&n)) return false;
      for (uint64_t i = 0; i < n; ++i) {
        if (!skip_value(at)) return false;
      }
      return true;
    }
    size_t n = scalar_size(type);
    if (n == 0 || pos_ + n > b_.size()) return false;
    pos_ += n;
    return true;
  }

  const std::vector<uint8_t>& b_;
  FieldMap* m_;
  size_t pos_ = 0;
};

// A model that loaded must also run: three greedy tokens through an Engine.
void generate_a_few(std::shared_ptr<const Model> model) {
  EngineConfig cfg;
  cfg.max_batch_size = 1;
  cfg.max_context = 32;
  cfg.kv_blocks = 4;
  cfg.n_threads = 1;
  auto eng = Engine::create(std::move(model), cfg);
  if (!eng.ok()) return;
  GenerationRequest req;
  req.prompt_tokens = {1, 2, 3};
  req.max_tokens = 3;
  if (!(*eng)->submit(std::move(req)).ok()) return;
  for (int i = 0; i < 16 && (*eng)->has_work(); ++i) (void)(*eng)->step();
}

// Loads everything that can be loaded from a (possibly mutated) buffer.
void exercise(std::span<const uint8_t> bytes, bool run_forward, int* n_valid, int* n_model) {
  auto file = GgufFile::from_buffer(bytes);
  if (!file.ok()) {
    EXPECT_FALSE(file.status().message().empty());
    return;
  }
  ++*n_valid;
  for (const auto& [key, value] : (*file)->metadata()) (void)(*file)->find(key);
  auto tok = Tokenizer::from_gguf(**file);
  if (tok.ok()) {
    std::vector<int32_t> ids = (*tok)->encode("Hello world, 123!", true);
    (void)(*tok)->decode(ids);
  }
  auto model = Model::from_gguf(std::move(*file));
  if (!model.ok()) return;
  ++*n_model;
  if (run_forward) generate_a_few(*model);
}

struct FuzzStats {
  int n_valid = 0;
  int n_model = 0;
};

// One mutation of the buffer: the bytes to restore afterwards and the length to parse.
struct Mutation {
  size_t len = 0;
  size_t saved_at = 0;
  size_t saved_n = 0;
  uint8_t saved[8] = {};
};

class Mutator {
 public:
  Mutator(const FieldMap& fields, size_t size, uint64_t seed)
      : fields_(fields), size_(size), header_(std::max<size_t>(std::min(fields.header_end + 64, size), 24)),
        rng_(seed) {}

  Mutation apply(uint8_t* buf) {
    Mutation m;
    m.len = size_;
    const uint64_t kind = next() % 6;
    // 85% of single-byte mutations land in the header region.
    const size_t at = (next() % 100 < 85) ? next() % header_ : next() % size_;
    if (kind == 0) {  // bit flip
      save(buf, at, 1, &m);
      buf[at] ^= static_cast<uint8_t>(1u << (next() % 8));
    } else if (kind == 1 || kind == 2) {  // interesting byte
      static constexpr uint8_t kBytes[] = {0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE};
      save(buf, at, 1, &m);
      buf[at] = kBytes[next() % sizeof(kBytes)];
    } else if (kind == 3) {  // truncation, mostly inside the header
      m.len = (next() % 4 == 0) ? next() % size_ : next() % header_;
    } else if (kind == 4 && !fields_.u64_fields.empty()) {  // huge length/count/offset
      const uint64_t kHuge[] = {~0ull, 1ull << 63, 1ull << 32, 0xFFFFFFFFull, size_, size_ + 1, 0, 1ull << 40};
      save(buf, fields_.u64_fields[next() % fields_.u64_fields.size()], 8, &m);
      const uint64_t v = kHuge[next() % std::size(kHuge)];
      std::memcpy(buf + m.saved_at, &v, 8);
    } else if (!fields_.u32_fields.empty()) {  // value type / n_dims / tensor type
      save(buf, fields_.u32_fields[next() % fields_.u32_fields.size()], 4, &m);
      const uint32_t v = (next() % 2 == 0) ? static_cast<uint32_t>(next() % 40) : static_cast<uint32_t>(next());
      std::memcpy(buf + m.saved_at, &v, 4);
    }
    return m;
  }

  static void undo(uint8_t* buf, const Mutation& m) {
    if (m.saved_n > 0) std::memcpy(buf + m.saved_at, m.saved, m.saved_n);
  }

 private:
  uint64_t next() { return splitmix64(rng_); }
  static void save(const uint8_t* buf, size_t at, size_t n, Mutation* m) {
    m->saved_at = at;
    m->saved_n = n;
    std::memcpy(m->saved, buf + at, n);
  }

  const FieldMap& fields_;
  size_t size_;
  size_t header_;
  uint64_t rng_;
};

// RS_FUZZ_SCALE=k multiplies the mutation counts (and varies the seeds) for deeper local runs.
int fuzz_scale() { return std::max(1, std::atoi(test::env_or("RS_FUZZ_SCALE", "1").c_str())); }

// Applies n seeded mutations, one at a time, restoring the buffer after each.
FuzzStats fuzz(const std::vector<uint8_t>& original, uint64_t seed, int n, bool run_forward) {
  n *= fuzz_scale();
  seed += static_cast<uint64_t>(fuzz_scale() - 1) * 1000;
  FieldMap fields;
  EXPECT_TRUE(Walker(original, &fields).walk());
  AlignedBuffer buf(original);
  Mutator mutator(fields, buf.size(), seed);
  FuzzStats stats;
  for (int i = 0; i < n; ++i) {
    const Mutation m = mutator.apply(buf.data());
    exercise(std::span<const uint8_t>(buf.data(), m.len), run_forward, &stats.n_valid, &stats.n_model);
    Mutator::undo(buf.data(), m);
  }
  std::printf("  %d mutations: %d parsed, %d loaded as a model\n", n, stats.n_valid, stats.n_model);
  return stats;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A tiny llama model with the byte-level vocabulary, built in memory.
std::vector<uint8_t> tiny_model() {
  GgufWriter w;
  const int64_t dim = 32, ffn = 64, layers = 1;
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", "fuzz");
  w.add_u32("llama.context_length", 64);
  w.add_u32("llama.embedding_length", dim);
  w.add_u32("llama.block_count", layers);
  w.add_u32("llama.feed_forward_length", ffn);
  w.add_u32("llama.attention.head_count", 4);
  w.add_u32("llama.attention.head_count_kv", 2);
  w.add_f32("llama.rope.freq_base", 10000.0f);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  ByteLevelVocab v = make_byte_level_vocab();
  const auto n_vocab = static_cast<int64_t>(v.tokens.size());
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "gpt-2");
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  w.add_i32_array("tokenizer.ggml.token_type", v.token_types);
  w.add_string_array("tokenizer.ggml.merges", v.merges);
  w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  auto tensor = [&](const std::string& name, int64_t n_in, int64_t n_out, float value, GgmlType type) {
    std::vector<float> row(static_cast<size_t>(n_in), value);
    const int64_t rb = ggml_row_bytes(type, n_in);
    std::vector<uint8_t> bytes(static_cast<size_t>(rb * n_out));
    for (int64_t r = 0; r < n_out; ++r) quantize_row(type, row.data(), bytes.data() + r * rb, n_in);
    std::vector<int64_t> dims = n_out == 1 ? std::vector<int64_t>{n_in} : std::vector<int64_t>{n_in, n_out};
    w.add_tensor(name, dims, type, std::move(bytes));
  };
  tensor("token_embd.weight", dim, n_vocab, 0.01f, GgmlType::kQ8_0);
  tensor("blk.0.attn_norm.weight", dim, 1, 1.0f, GgmlType::kF32);
  tensor("blk.0.attn_q.weight", dim, dim, 0.02f, GgmlType::kF16);
  tensor("blk.0.attn_k.weight", dim, dim / 2, 0.02f, GgmlType::kF16);
  tensor("blk.0.attn_v.weight", dim, dim / 2, 0.02f, GgmlType::kF16);
  tensor("blk.0.attn_output.weight", dim, dim, 0.02f, GgmlType::kF32);
  tensor("blk.0.ffn_norm.weight", dim, 1, 1.0f, GgmlType::kF32);
  tensor("blk.0.ffn_gate.weight", dim, ffn, 0.02f, GgmlType::kQ8_0);
  tensor("blk.0.ffn_up.weight", dim, ffn, 0.02f, GgmlType::kQ8_0);
  tensor("blk.0.ffn_down.weight", ffn, dim, 0.02f, GgmlType::kQ8_0);
  tensor("output_norm.weight", dim, 1, 1.0f, GgmlType::kF32);
  return w.serialize();
}

TEST(GgufFuzzTest, SyntheticModelSurvivesMutations) {
  const std::vector<uint8_t> bytes = tiny_model();
  {
    auto file = GgufFile::from_buffer(bytes);
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    auto model = Model::from_gguf(std::move(*file));
    ASSERT_TRUE(model.ok()) << model.status().to_string();
  }
  FuzzStats s = fuzz(bytes, 1, 3000, /*run_forward=*/true);
  EXPECT_GT(s.n_valid, 0);
  RecordProperty("valid", s.n_valid);
  RecordProperty("model_loads", s.n_model);
}

void fuzz_model_file(const std::string& name, uint64_t seed, int n) {
  const std::string path = test::model_path(name);
  RS_REQUIRE_FILE(path);
  const std::vector<uint8_t> bytes = read_file(path);
  ASSERT_TRUE(GgufFile::from_buffer(bytes).ok());
  FuzzStats s = fuzz(bytes, seed, n, /*run_forward=*/true);
  EXPECT_GT(s.n_valid, 0);
}

TEST(GgufFuzzTest, Stories260KSurvivesMutations) { fuzz_model_file("stories260K.gguf", 2, 600); }
TEST(GgufFuzzTest, QwenQ8SurvivesMutations) { fuzz_model_file("qwen2-gpt2vocab-q8_0.gguf", 3, 12); }
TEST(GgufFuzzTest, LlamaTiedQ8SurvivesMutations) { fuzz_model_file("llama-spm-tied-q8_0.gguf", 4, 600); }
TEST(GgufFuzzTest, Llama2VocabSurvivesMutations) { fuzz_model_file("llama-2-tiny-random.gguf", 5, 30); }

TEST(GgufFuzzTest, EveryTruncationOfTheHeaderFails) {
  const std::vector<uint8_t> bytes = tiny_model();
  FieldMap fields;
  ASSERT_TRUE(Walker(bytes, &fields).walk());
  for (size_t len = 0; len < fields.header_end; len += 7) {
    EXPECT_FALSE(GgufFile::from_buffer(std::span<const uint8_t>(bytes.data(), len)).ok()) << len;
  }
}

}  // namespace
}  // namespace rs::engine
