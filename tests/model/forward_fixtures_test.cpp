// Forward-pass correctness against llama.cpp reference outputs (../shared/fixtures):
// teacher-forced top-5 logits and argmax per step, exact free-running greedy generation
// for F32 models, chunked prefill and batched runs equal to single-sequence runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "rs/engine/model.h"
#include "rs/engine/thread_pool.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

struct FixtureCase {
  const char* name;  // fixture JSON base name
  float abs_tol;
  float rel_tol;
  bool exact_greedy;   // F32 weights
  bool check_argmax;   // false for llama-2-tiny-random (near-uniform logits)
};

const FixtureCase kCases[] = {
    {"stories260K", 1e-3f, 1e-4f, true, true},
    {"stories260K-f16", 5e-2f, 2e-3f, false, true},
    {"stories260K-bf16", 1.5e-1f, 1e-2f, false, true},
    {"llama-spm-tied-f32", 1e-3f, 1e-4f, true, true},
    {"llama-spm-tied-q8_0", 3e-1f, 1e-2f, false, true},
    {"qwen2-gpt2vocab-f32", 1e-3f, 1e-4f, true, true},
    {"qwen2-gpt2vocab-f16", 5e-2f, 2e-3f, false, true},
    {"qwen2-gpt2vocab-q8_0", 3e-1f, 1e-2f, false, true},
    {"llama-2-tiny-random", 5e-2f, 2e-3f, false, false},
    {"set2/qwen3-tiny-f32", 1e-3f, 1e-4f, true, true},
    {"set2/qwen3-tiny-q8_0", 1.0f, 3e-2f, false, true},
};

// Names the case in test output (instead of the struct's bytes).
void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.name; }

// One sequence at a time (or several) over a private KV cache.
class Session {
 public:
  explicit Session(const Model& m, int n_threads = 2)
      : m_(m), kv_(m.kv_config(16, 256)), pool_(n_threads) {}

  struct Seq {
    std::vector<int32_t> tokens;
    std::vector<BlockId> blocks;
  };

  // Feeds chunks[i] to seqs[i] in one forward; the logits of each slice's last token.
  std::vector<std::vector<float>> feed(const std::vector<Seq*>& seqs, const std::vector<std::vector<int32_t>>& chunks) {
    std::vector<ForwardSeq> batch;
    for (size_t i = 0; i < seqs.size(); ++i) {
      Seq& s = *seqs[i];
      ForwardSeq f;
      f.pos0 = static_cast<int32_t>(s.tokens.size());
      s.tokens.insert(s.tokens.end(), chunks[i].begin(), chunks[i].end());
      while (static_cast<int>(s.blocks.size()) < kv_.blocks_for(static_cast<int64_t>(s.tokens.size()))) {
        auto b = kv_.allocate();
        if (!b) {
          ADD_FAILURE() << "KV cache exhausted";
          return {};
        }
        s.blocks.push_back(*b);
      }
      f.tokens = chunks[i];
      f.blocks = s.blocks;
      batch.push_back(f);
    }
    std::vector<float> logits;
    Status st = m_.forward(batch, kv_, pool_, ws_, &logits);
    EXPECT_TRUE(st.ok()) << st.to_string();
    std::vector<std::vector<float>> out;
    const size_t nv = static_cast<size_t>(m_.config().n_vocab);
    for (size_t i = 0; st.ok() && i < seqs.size(); ++i) {
      out.emplace_back(logits.begin() + static_cast<std::ptrdiff_t>(i * nv),
                       logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * nv));
    }
    return out;
  }
  std::vector<float> feed(Seq& s, const std::vector<int32_t>& chunk) {
    auto out = feed(std::vector<Seq*>{&s}, {chunk});
    return out.empty() ? std::vector<float>() : out[0];
  }
  void free(Seq& s) {
    for (BlockId b : s.blocks) kv_.release(b);
    s = Seq{};
  }

 private:
  const Model& m_;
  KvCache kv_;
  ThreadPool pool_;
  ModelWorkspace ws_;
};

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

class FixtureTest : public ::testing::TestWithParam<FixtureCase> {
 protected:
  void SetUp() override {
    // RS_KERNEL_PATH=scalar|avx2|avx512 forces a kernel path (to compare paths).
    const std::string forced = rs::test::env_or("RS_KERNEL_PATH", "");
    if (forced == "scalar") set_default_kernel_path(KernelPath::kScalar);
    if (forced == "avx2") set_default_kernel_path(KernelPath::kAvx2);
    if (forced == "avx512") set_default_kernel_path(KernelPath::kAvx512);
    const std::string fixture = rs::test::fixture_path(std::string(GetParam().name) + ".json");
    RS_REQUIRE_FILE(fixture);
    json_ = rs::test::load_json(fixture);
    // A fixture of set2/ names a model of set2/.
    const std::string name = GetParam().name;
    const std::string dir = name.rfind("set2/", 0) == 0 ? "set2/" : "";
    const std::string model = rs::test::model_path(dir + json_["model"].get<std::string>());
    RS_REQUIRE_FILE(model);
    auto m = Model::load(model);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = *m;
    ASSERT_EQ(model_->config().n_vocab, json_["n_vocab"].get<int>());
  }

  // Checks one step's logits against the reference step.
  void check_step(const std::vector<float>& logits, const nlohmann::json& step, const std::string& where) {
    const FixtureCase& c = GetParam();
    ASSERT_EQ(logits.size(), static_cast<size_t>(model_->config().n_vocab)) << where;
    for (const auto& pair : step["top5"]) {
      const int id = pair[0].get<int>();
      const float ref = pair[1].get<float>();
      const float bound = c.abs_tol + c.rel_tol * std::fabs(ref);
      const float err = std::fabs(logits[static_cast<size_t>(id)] - ref);
      worst_ = std::max(worst_, err / bound);
      if (std::getenv("RS_FIXTURE_VERBOSE") != nullptr) std::printf("%s id %d err %.4f bound %.4f\n", where.c_str(), id, static_cast<double>(err), static_cast<double>(bound));
      EXPECT_NEAR(logits[static_cast<size_t>(id)], ref, bound) << where << " id " << id;
    }
    if (!c.check_argmax) return;
    const float top = step["top5"][0][1].get<float>();
    const float bound = c.abs_tol + c.rel_tol * std::fabs(top);
    if (step["margin"].get<float>() > 2 * bound) {
      EXPECT_EQ(argmax(logits), step["token"].get<int>()) << where;
    }
  }

  float worst_ = 0;  // largest |error| / bound seen
  nlohmann::json json_;
  std::shared_ptr<const Model> model_;
};

std::vector<int32_t> ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

TEST_P(FixtureTest, TeacherForcedLogits) {
  Session session(*model_, 1);
  for (const auto& gen : json_["generate"]) {
    const auto prompt = ids(gen["prompt_ids"]);
    const auto generated = ids(gen["generated_ids"]);
    const auto& steps = gen["steps"];
    ASSERT_EQ(steps.size(), generated.size());
    Session::Seq seq;
    std::vector<float> logits = session.feed(seq, prompt);
    for (size_t i = 0; i < steps.size(); ++i) {
      check_step(logits, steps[i], gen["prompt"].get<std::string>() + " step " + std::to_string(i));
      if (i + 1 < steps.size()) logits = session.feed(seq, {generated[i]});
    }
    session.free(seq);
  }
  std::printf("[ worst   ] %s: largest |error|/bound %.3f\n", GetParam().name, static_cast<double>(worst_));
}

TEST_P(FixtureTest, FreeRunningGreedy) {
  if (!GetParam().exact_greedy) GTEST_SKIP() << "exact greedy is required for F32 weights only";
  Session session(*model_, 1);
  const int32_t eos = json_["eos"].get<int32_t>();
  for (const auto& gen : json_["generate"]) {
    const auto expected = ids(gen["generated_ids"]);
    Session::Seq seq;
    std::vector<float> logits = session.feed(seq, ids(gen["prompt_ids"]));
    std::vector<int32_t> got;
    while (got.size() < expected.size()) {
      const int32_t next = argmax(logits);
      got.push_back(next);
      if (next == eos) break;
      logits = session.feed(seq, {next});
    }
    EXPECT_EQ(got, expected) << gen["prompt"].get<std::string>();
    session.free(seq);
  }
}

TEST_P(FixtureTest, ChunkedPrefillMatchesOneChunk) {
  // The longest prompt followed by its reference continuation: a long enough prefill.
  std::vector<int32_t> tokens;
  for (const auto& gen : json_["generate"]) {
    auto t = ids(gen["prompt_ids"]);
    for (int32_t id : ids(gen["generated_ids"])) t.push_back(id);
    if (t.size() > tokens.size()) tokens = t;
  }
  Session session(*model_, 1);
  Session::Seq one;
  const std::vector<float> ref = session.feed(one, tokens);
  for (size_t chunk : {1u, 5u, 16u, 23u}) {
    Session::Seq seq;
    std::vector<float> last;
    for (size_t i = 0; i < tokens.size(); i += chunk) {
      const size_t end = std::min(tokens.size(), i + chunk);
      last = session.feed(seq, std::vector<int32_t>(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                                                    tokens.begin() + static_cast<std::ptrdiff_t>(end)));
    }
    ASSERT_EQ(last.size(), ref.size());
    for (size_t v = 0; v < ref.size(); ++v) ASSERT_NEAR(last[v], ref[v], 1e-4f) << "chunk " << chunk << " id " << v;
    session.free(seq);
  }
}

TEST_P(FixtureTest, BatchedEqualsAloneBitForBit) {
  std::vector<std::vector<int32_t>> prompts, continuations;
  for (const auto& gen : json_["generate"]) {
    prompts.push_back(ids(gen["prompt_ids"]));
    continuations.push_back(ids(gen["generated_ids"]));
  }
  const size_t kSteps = 6;
  std::vector<std::vector<std::vector<float>>> alone(prompts.size());
  Session single(*model_, 1);
  for (size_t i = 0; i < prompts.size(); ++i) {
    Session::Seq s;
    alone[i].push_back(single.feed(s, prompts[i]));
    for (size_t k = 0; k < kSteps; ++k) alone[i].push_back(single.feed(s, {continuations[i][k]}));
    single.free(s);
  }
  Session batched(*model_, 2);
  std::vector<Session::Seq> seqs(prompts.size());
  for (size_t step = 0; step <= kSteps; ++step) {
    std::vector<Session::Seq*> ptrs;
    std::vector<std::vector<int32_t>> chunks;
    std::vector<size_t> order;
    for (size_t k = 0; k < prompts.size(); ++k) order.push_back((k + step) % prompts.size());  // rotate
    for (size_t i : order) {
      ptrs.push_back(&seqs[i]);
      chunks.push_back(step == 0 ? prompts[i] : std::vector<int32_t>{continuations[i][step - 1]});
    }
    auto out = batched.feed(ptrs, chunks);
    ASSERT_EQ(out.size(), order.size());
    for (size_t k = 0; k < order.size(); ++k) {
      const auto& ref = alone[order[k]][step];
      ASSERT_TRUE(out[k].size() == ref.size() &&
                  std::memcmp(out[k].data(), ref.data(), ref.size() * sizeof(float)) == 0)
          << "seq " << order[k] << " step " << step;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<FixtureCase>& info) {
                           std::string n = info.param.name;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace rs::engine
