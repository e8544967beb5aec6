// Runs the `ringserve-model` binary on synthesized tiny models: info, tokenize --json
// (equal to the in-process Tokenizer), generate --json greedy (deterministic, equal to
// an in-process Engine run), synth determinism, and clean failures on bad files.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rs/engine/engine.h"
#include "rs/engine/gguf.h"
#include "rs/engine/model.h"
#include "rs/engine/tokenizer.h"
#include "test_paths.h"

namespace rs::engine {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class RingserveModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("rs_tool_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // bin_dir(), or else the directory of this test binary (tests land in bin/ too).
  static std::string tool() {
    const std::string from_env = test::bin_dir() + "/ringserve-model";
    if (fs::exists(from_env)) return from_env;
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    return ec ? from_env : (self.parent_path() / "ringserve-model").string();
  }
  static std::string path(const std::string& name) { return (dir_ / name).string(); }

  static RunResult run(const std::vector<std::string>& args) {
    std::string cmd = quote(tool());
    for (const auto& a : args) cmd.append(" ").append(quote(a));
    const std::string err_path = path("stderr.txt");
    cmd.append(" 2>").append(quote(err_path));
    RunResult r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = slurp(err_path);
    return r;
  }

  // Synthesizes a tiny model once per name.
  static std::string synth(const std::string& name, std::vector<std::string> extra) {
    const std::string out = path(name);
    if (fs::exists(out)) return out;
    std::vector<std::string> args = {"synth", "--dim", "64", "--layers", "2", "--heads", "4",
                                     "--kv-heads", "2", "--ffn", "128", "--ctx", "256"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(out);
    RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }
  static std::string byte_model() { return synth("byte.gguf", {"--arch", "llama", "--type", "f32", "--seed", "7"}); }

  void SetUp() override {
    if (!fs::exists(tool())) {
      if (test::in_ci()) FAIL() << "missing " << tool();
      GTEST_SKIP() << "binary not found: " << tool();
    }
  }

  static fs::path dir_;
};

fs::path RingserveModelTest::dir_;

std::vector<int32_t> tokenize_in_process(const std::string& file, const std::string& text, bool bos) {
  auto f = GgufFile::open(file);
  EXPECT_TRUE(f.ok()) << f.status().to_string();
  if (!f.ok()) return {};
  auto tok = Tokenizer::from_gguf(**f);
  EXPECT_TRUE(tok.ok()) << tok.status().to_string();
  if (!tok.ok()) return {};
  return (*tok)->encode(text, bos);
}

TEST_F(RingserveModelTest, InfoReportsTheShape) {
  const std::string model = byte_model();
  RunResult r = run({"info", model, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["dim"], 64);
  EXPECT_EQ(j["layers"], 2);
  EXPECT_EQ(j["heads"], 4);
  EXPECT_EQ(j["kv_heads"], 2);
  EXPECT_EQ(j["head_dim"], 16);
  EXPECT_EQ(j["ffn"], 128);
  EXPECT_EQ(j["context"], 256);
  EXPECT_EQ(j["vocab"], static_cast<int64_t>(make_byte_level_vocab().tokens.size()));
  EXPECT_EQ(j["tokenizer"]["model"], "gpt2");
  EXPECT_EQ(j["tensor_types"]["f32"]["count"], j["n_tensors"]);
  RunResult plain = run({"info", model});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out.find("llama"), std::string::npos);
}

TEST_F(RingserveModelTest, TokenizeJsonEqualsTokenizer) {
  const std::string model = byte_model();
  for (const std::string text : {"Hello world", "  tabs\tand\nnewlines", "héllo wörld ✓"}) {
    RunResult r = run({"tokenize", model, text, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j["ids"].get<std::vector<int32_t>>(), tokenize_in_process(model, text, true)) << text;
    RunResult nb = run({"tokenize", model, text, "--json", "--no-bos"});
    ASSERT_EQ(nb.exit_code, 0) << nb.err;
    EXPECT_EQ(nlohmann::json::parse(nb.out)["ids"].get<std::vector<int32_t>>(),
              tokenize_in_process(model, text, false));
  }
}

TEST_F(RingserveModelTest, VocabFromCopiesTheTokenizer) {
  const std::string stories = test::model_path("stories260K.gguf");
  RS_REQUIRE_FILE(stories);
  const std::string model = synth("stories_vocab.gguf", {"--arch", "qwen2", "--type", "q8_0", "--vocab-from", stories});
  const std::string text = "Once upon a time, there was a little girl.";
  RunResult r = run({"tokenize", model, text, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ids = nlohmann::json::parse(r.out)["ids"].get<std::vector<int32_t>>();
  EXPECT_EQ(ids, tokenize_in_process(stories, text, true));
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);  // stories260K adds BOS 1
  RunResult info = run({"info", model, "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  nlohmann::json j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["vocab"], 512);
  EXPECT_EQ(j["architecture"], "qwen2");
  EXPECT_EQ(j["tokenizer"]["model"], "llama");
  EXPECT_EQ(j["tensor_types"]["q8_0"]["count"], 2 * 7 + 2);
}

std::vector<int32_t> generate_in_process(const std::string& file, const std::vector<int32_t>& prompt, int n) {
  auto model = Model::load(file);
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  if (!model.ok()) return {};
  EngineConfig cfg;
  cfg.max_batch_size = 1;
  cfg.n_threads = 1;
  cfg.kv_blocks = 8;
  auto eng = Engine::create(*model, cfg);
  EXPECT_TRUE(eng.ok()) << eng.status().to_string();
  if (!eng.ok()) return {};
  GenerationRequest req;
  req.prompt_tokens = prompt;
  req.max_tokens = n;
  EXPECT_TRUE((*eng)->submit(std::move(req)).ok());
  std::vector<int32_t> out;
  for (int i = 0; i < 1000 && (*eng)->has_work(); ++i) {
    StepResult s = (*eng)->step();
    for (const auto& t : s.tokens) out.push_back(t.token);
  }
  return out;
}

TEST_F(RingserveModelTest, GreedyGenerateIsDeterministicAndEqualsEngine) {
  const std::string model = synth("gen.gguf", {"--arch", "llama", "--type", "f16", "--seed", "11"});
  const std::vector<std::string> args = {"generate", model, "The quick brown fox", "-n", "12",
                                         "--temp", "0", "--threads", "1", "--json"};
  RunResult a = run(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  RunResult b = run(args);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  nlohmann::json ja = nlohmann::json::parse(a.out);
  nlohmann::json jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja, jb);
  const auto prompt = ja["prompt_ids"].get<std::vector<int32_t>>();
  const auto generated = ja["generated_ids"].get<std::vector<int32_t>>();
  EXPECT_EQ(prompt, tokenize_in_process(model, "The quick brown fox", true));
  EXPECT_FALSE(generated.empty());
  EXPECT_LE(generated.size(), 12u);
  EXPECT_EQ(generated, generate_in_process(model, prompt, 12));
  EXPECT_TRUE(ja["text"].is_string());
  EXPECT_NE(a.err.find("completion_tokens="), std::string::npos) << a.err;
}

TEST_F(RingserveModelTest, GenerateMatchesTheLlamaCppFixture) {
  const std::string model = test::model_path("stories260K.gguf");
  const std::string fixture = test::fixture_path("stories260K.json");
  RS_REQUIRE_FILE(model);
  RS_REQUIRE_FILE(fixture);
  const nlohmann::json doc = test::load_json(fixture);
  const nlohmann::json& g = doc["generate"][0];
  const auto expected = g["generated_ids"].get<std::vector<int32_t>>();
  RunResult r = run({"generate", model, g["prompt"].get<std::string>(), "-n", std::to_string(expected.size()),
                     "--temp", "0", "--threads", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prompt_ids"], g["prompt_ids"]);
  EXPECT_EQ(j["generated_ids"].get<std::vector<int32_t>>(), expected);
}

// --logprobs / --prompt-logprobs: per prompt position (null at 0) and per generated token,
// the token, its text, its logprob and the alternatives (greedy: the first is the token).
TEST_F(RingserveModelTest, GenerateJsonCarriesLogprobs) {
  const std::string model = test::model_path("stories260K.gguf");
  RS_REQUIRE_FILE(model);
  RunResult r = run({"generate", model, "Once upon a time", "-n", "4", "--temp", "0", "--threads", "1",
                     "--json", "--logprobs", "3", "--prompt-logprobs", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const auto prompt = j["prompt_ids"].get<std::vector<int32_t>>();
  const nlohmann::json& pl = j["prompt_logprobs"];
  ASSERT_EQ(pl.size(), prompt.size());
  EXPECT_TRUE(pl[0].is_null());
  for (size_t p = 1; p < prompt.size(); ++p) {
    EXPECT_EQ(pl[p]["token"].get<int32_t>(), prompt[p]);
    EXPECT_TRUE(pl[p]["text"].is_string());
    EXPECT_LE(pl[p]["logprob"].get<double>(), 0.0);
    ASSERT_EQ(pl[p]["top"].size(), 2u);
    EXPECT_GE(pl[p]["top"][0]["logprob"].get<double>(), pl[p]["logprob"].get<double>());
  }
  const auto generated = j["generated_ids"].get<std::vector<int32_t>>();
  const nlohmann::json& gl = j["logprobs"];
  ASSERT_EQ(gl.size(), generated.size());
  for (size_t i = 0; i < generated.size(); ++i) {
    EXPECT_EQ(gl[i]["token"].get<int32_t>(), generated[i]);
    ASSERT_EQ(gl[i]["top"].size(), 3u);
    EXPECT_EQ(gl[i]["top"][0]["token"], gl[i]["token"]);
    EXPECT_EQ(gl[i]["top"][0]["logprob"], gl[i]["logprob"]);
  }

  // -n 0 scores the prompt only; without --prompt-logprobs it is refused.
  RunResult score = run({"generate", model, "Once upon a time", "-n", "0", "--threads", "1", "--json",
                         "--prompt-logprobs", "2"});
  ASSERT_EQ(score.exit_code, 0) << score.err;
  const nlohmann::json s = nlohmann::json::parse(score.out);
  EXPECT_TRUE(s["generated_ids"].empty());
  EXPECT_EQ(s["prompt_logprobs"], pl);
  EXPECT_NE(run({"generate", model, "Once upon a time", "-n", "0", "--json"}).exit_code, 0);
}

TEST_F(RingserveModelTest, GenerateStreamsPlainText) {
  const std::string model = byte_model();
  RunResult r = run({"generate", model, "abc", "-n", "8", "--temp", "0.8", "--top-k", "40", "--top-p", "0.9",
                     "--min-p", "0.05", "--repeat-penalty", "1.1", "--seed", "3", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("prompt_tokens="), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("decode_tok_s="), std::string::npos) << r.err;
}

TEST_F(RingserveModelTest, SynthIsDeterministicForASeed) {
  const std::string a = synth("seed_a.gguf", {"--arch", "qwen2", "--type", "q8_0", "--seed", "42"});
  const std::string b = synth("seed_b.gguf", {"--arch", "qwen2", "--type", "q8_0", "--seed", "42"});
  const std::string c = synth("seed_c.gguf", {"--arch", "qwen2", "--type", "q8_0", "--seed", "43"});
  const std::string ba = slurp(a);
  EXPECT_FALSE(ba.empty());
  EXPECT_TRUE(ba == slurp(b));
  EXPECT_FALSE(ba == slurp(c));
  auto f = GgufFile::open(a);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_NE((*f)->find_tensor("blk.1.attn_k.bias"), nullptr);
  EXPECT_EQ((*f)->get_int_or("qwen2.attention.head_count_kv", 0), 2);
  EXPECT_EQ((*f)->get_int_or("general.file_type", -1), 7);
}

// `synth` writes examples/chat/chatml.jinja into its models; `chat` prints the rendering
// (model or --template alone), --ids the chat job's ids (ChatML markers as one id each,
// equal to Model::chat_prompt), and an error with exit 1.
TEST_F(RingserveModelTest, ChatRendersWithTheModelsTemplateOrAFile) {
  const std::string model = byte_model();
  const std::string messages = R"([{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}])";
  RunResult r = run({"chat", model, "--messages", messages, "--add-generation-prompt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  const std::string chatml = test::source_path("examples/chat/chatml.jinja");
  auto file = GgufFile::open(model);
  ASSERT_TRUE(file.ok());
  auto embedded = (*file)->get_string("tokenizer.chat_template");
  ASSERT_TRUE(embedded.ok());
  EXPECT_EQ(std::string(*embedded), slurp(chatml));  // synth embeds the example file as is

  RunResult alone = run({"chat", "--template", chatml, "--messages", messages});
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  EXPECT_EQ(alone.out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
  const std::string bos_tmpl = path("bos.jinja");
  std::ofstream(bos_tmpl) << "{{ bos_token }}|{{ eos_token }}|{{ messages[0]['content'] }}";
  RunResult tokens = run({"chat", "--template", bos_tmpl, "--messages", messages, "--bos-token", "<B>", "--eos-token", "<E>"});
  EXPECT_EQ(tokens.out, "<B>|<E>|S");

  RunResult ids = run({"chat", model, "--messages", messages, "--add-generation-prompt", "--ids"});
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  auto loaded = Model::load(model);
  ASSERT_TRUE(loaded.ok());
  auto want = (*loaded)->chat_prompt(ChatInput{.messages_json = messages, .add_generation_prompt = true});
  ASSERT_TRUE(want.ok());
  std::string want_text;
  for (int32_t id : *want) want_text += (want_text.empty() ? "" : " ") + std::to_string(id);
  EXPECT_EQ(ids.out, want_text + "\n");

  RunResult bad = run({"chat", model, "--messages", "[{\"content\": \"no role\"}]"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("role"), std::string::npos) << bad.err;
  EXPECT_EQ(run({"chat", model, "--messages", "not json"}).exit_code, 1);
  EXPECT_EQ(run({"chat", "--template", chatml, "--messages", messages, "--ids"}).exit_code, 1);
  RunResult none = run({"chat", test::model_path("stories260K.gguf"), "--messages", messages});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("tokenizer.chat_template"), std::string::npos) << none.err;
}

TEST_F(RingserveModelTest, BadInputIsOneLineAndExitOne) {
  const std::string model = byte_model();
  const std::string data = slurp(model);
  const std::string truncated = path("truncated.gguf");
  {
    std::ofstream out(truncated, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size() / 2));
  }
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"info", truncated},
           {"tokenize", truncated, "hi"},
           {"generate", truncated, "hi"},
           {"info", path("does-not-exist.gguf")},
           {"synth", "--arch", "gpt-j", path("x.gguf")},
           {"synth", "--type", "q7_k", path("x.gguf")},
           {"synth", "--vocab-from", truncated, path("x.gguf")},
       }) {
    RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << " " << args[1];
    EXPECT_TRUE(r.out.empty()) << r.out;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    EXPECT_EQ(r.err.rfind("ringserve-model: ", 0), 0u) << r.err;
  }
  EXPECT_FALSE(fs::exists(path("x.gguf")));
}

}  // namespace
}  // namespace rs::engine
