// ringserve-model: inspect, tokenize with, generate with, render chat templates of and
// synthesize GGUF models.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "commands.h"

namespace rs::tool {

int fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "ringserve-model: %s: %s\n", what.c_str(), status.to_string().c_str());
  return 1;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "ringserve-model: %s\n", message.c_str());
  return 1;
}

}  // namespace rs::tool

namespace {

void add_info(CLI::App& app, rs::tool::InfoOptions& o) {
  auto* cmd = app.add_subcommand("info", "Print a GGUF model's architecture, shapes and tensor types");
  cmd->add_option("file", o.file, "GGUF file")->required();
  cmd->add_flag("--json", o.json, "Print one JSON object");
}

void add_tokenize(CLI::App& app, rs::tool::TokenizeOptions& o) {
  auto* cmd = app.add_subcommand("tokenize", "Tokenize a text with a model's vocabulary");
  cmd->add_option("file", o.file, "GGUF file")->required();
  cmd->add_option("text", o.text, "Text to tokenize")->required();
  cmd->add_flag("--no-bos", o.no_bos, "Do not add BOS even when the model adds one");
  cmd->add_flag("--json", o.json, "Print {\"ids\": [...]}");
}

void add_generate(CLI::App& app, rs::tool::GenerateOptions& o) {
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt (streams to stdout)");
  cmd->add_option("file", o.file, "GGUF file")->required();
  cmd->add_option("prompt", o.prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-tokens", o.n_tokens, "Tokens to generate")->capture_default_str();
  cmd->add_option("--temp", o.temperature, "Temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "Top-k (0: off)")->capture_default_str();
  cmd->add_option("--top-p", o.top_p, "Top-p (1: off)")->capture_default_str();
  cmd->add_option("--min-p", o.min_p, "Min-p (0: off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", o.repeat_penalty, "Repetition penalty (1: off)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Sampling seed (<0: random)")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Matmul threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--json", o.json, "Print {\"prompt_ids\", \"generated_ids\", \"text\"} at the end");
  cmd->add_option("--logprobs", o.logprobs,
                   "With --json: \"logprobs\" per generated token with N alternatives (0..20)");
  cmd->add_option("--prompt-logprobs", o.prompt_logprobs,
                   "With --json: \"prompt_logprobs\" per prompt token with N alternatives (0..20); "
                   "-n 0 then only scores the prompt");
  cmd->add_option("--kv-cache-type", o.kv_cache_type, "K/V cache element type: f16 or f32")
      ->check(CLI::IsMember({"f16", "f32"}))
      ->capture_default_str();
}

void add_chat(CLI::App& app, rs::tool::ChatOptions& o) {
  auto* cmd = app.add_subcommand("chat", "Render a conversation with a chat template (as transformers does)");
  cmd->add_option("file", o.file, "GGUF model (its tokenizer.chat_template and tokenizer)");
  cmd->add_option("--template", o.template_file, "Jinja chat template file (replaces the model's)");
  cmd->add_option("--messages", o.messages, "JSON array of messages, or @FILE")->required();
  cmd->add_option("--tools", o.tools, "JSON array of tools, or @FILE");
  cmd->add_option("--kwargs", o.kwargs, "JSON object of extra template variables, or @FILE");
  cmd->add_flag("--add-generation-prompt", o.add_generation_prompt, "End with the assistant's turn opener");
  cmd->add_option("--bos-token", o.bos_token, "bos_token (default: the model's, else empty)");
  cmd->add_option("--eos-token", o.eos_token, "eos_token (default: the model's, else empty)");
  cmd->add_flag("--ids", o.ids, "Print the prompt's token ids (special tokens parsed; needs a model)");
}

void add_synth(CLI::App& app, rs::tool::SynthOptions& o) {
  auto* cmd = app.add_subcommand("synth", "Write a GGUF with seeded random weights");
  cmd->add_option("--arch", o.arch, "llama | qwen2")->capture_default_str();
  cmd->add_option("--dim", o.dim, "Embedding length")->capture_default_str();
  cmd->add_option("--layers", o.layers, "Blocks")->capture_default_str();
  cmd->add_option("--heads", o.heads, "Attention heads")->capture_default_str();
  cmd->add_option("--kv-heads", o.kv_heads, "KV heads")->capture_default_str();
  cmd->add_option("--ffn", o.ffn, "Feed-forward length")->capture_default_str();
  cmd->add_option("--type", o.type, "f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl q2_k q3_k q4_k q5_k q6_k, or q4_k_m (llama-quantize's mix) (matrices and token_embd)")->capture_default_str();
  cmd->add_option("--vocab-from", o.vocab_from, "Copy tokenizer.ggml.* from this GGUF");
  cmd->add_option("--seed", o.seed, "Weight seed")->capture_default_str();
  cmd->add_option("--ctx", o.ctx, "Context length")->capture_default_str();
  cmd->add_option("out", o.out, "Output GGUF path")->required();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringserve-model: inspect, tokenize, generate and synthesize GGUF models"};
  app.require_subcommand(1);
  rs::tool::InfoOptions info;
  rs::tool::TokenizeOptions tokenize;
  rs::tool::GenerateOptions generate;
  rs::tool::SynthOptions synth;
  rs::tool::ChatOptions chat;
  add_info(app, info);
  add_chat(app, chat);
  add_tokenize(app, tokenize);
  add_generate(app, generate);
  add_synth(app, synth);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    return rs::tool::fail(std::string(e.what()) + " (see --help)");
  }
  if (app.got_subcommand("info")) return rs::tool::run_info(info);
  if (app.got_subcommand("tokenize")) return rs::tool::run_tokenize(tokenize);
  if (app.got_subcommand("generate")) return rs::tool::run_generate(generate);
  if (app.got_subcommand("synth")) return rs::tool::run_synth(synth);
  if (app.got_subcommand("chat")) return rs::tool::run_chat(chat);
  return 1;
}
