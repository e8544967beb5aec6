// Shared by the fixture tests of tests/model: a fixture case (tolerances), a Session that
// runs sequences over a private KV cache, and FixtureTestBase, which loads a fixture and
// its model and checks teacher-forced logits and free-running greedy generation.
// Test-thread only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "rs/engine/kernels.h"
#include "rs/engine/model.h"
#include "rs/engine/thread_pool.h"
#include "test_paths.h"

namespace rs::engine::fixture_test {

struct FixtureCase {
  const char* name;  // fixture JSON base name
  float abs_tol;
  float rel_tol;
  bool exact_greedy;   // F32 weights
  bool check_argmax;   // false for llama-2-tiny-random (near-uniform logits)
  KernelPath path = KernelPath::kAuto;  // the process default during the test
};

// Names the case in test output (instead of the struct's bytes).
inline void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.name; }

// One sequence at a time (or several) over a private KV cache.
class Session {
 public:
  explicit Session(const Model& m, int n_threads = 2)
      : m_(m), kv_(m.kv_config(16, 256, KvCacheType::kF32)), pool_(n_threads) {}  // as llama.cpp made the fixtures

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

inline int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

inline std::vector<int32_t> ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

class FixtureTestBase : public ::testing::TestWithParam<FixtureCase> {
 protected:
  void TearDown() override { set_default_kernel_path(KernelPath::kAuto); }

  void SetUp() override {
    set_default_kernel_path(GetParam().path);
    // RS_KERNEL_PATH=scalar|avx2|avx512 forces a kernel path (to compare paths).
    const std::string forced = rs::test::env_or("RS_KERNEL_PATH", "");
    if (forced == "scalar") set_default_kernel_path(KernelPath::kScalar);
    if (forced == "avx2") set_default_kernel_path(KernelPath::kAvx2);
    if (forced == "avx512") set_default_kernel_path(KernelPath::kAvx512);
    const std::string fixture = rs::test::fixture_path(std::string(GetParam().name) + ".json");
    RS_REQUIRE_FILE(fixture);
    json_ = rs::test::load_json(fixture);
    // A fixture of a subfolder (set2/...) names a model of the same subfolder.
    const std::string name = GetParam().name;
    const std::string dir = name.find('/') == std::string::npos ? "" : name.substr(0, name.rfind('/') + 1);
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

  // Teacher-forced top-5 logits (and argmax where the margin allows) at every step.
  void run_teacher_forced() {
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

  // Free-running greedy generation equal to the reference (F32 weights).
  void run_free_running_greedy() {
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

  float worst_ = 0;  // largest |error| / bound seen
  nlohmann::json json_;
  std::shared_ptr<const Model> model_;
};

inline std::string case_test_name(const ::testing::TestParamInfo<FixtureCase>& info) {
  std::string n = info.param.name;
  for (char& ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n;
}

}  // namespace rs::engine::fixture_test
