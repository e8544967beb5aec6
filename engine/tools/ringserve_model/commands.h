// The subcommands of `ringserve-model`: each takes its parsed options and returns the
// process exit code (0 ok, 1 bad input or failure; errors are one line on stderr).
// Single-threaded CLI code (generate/synth use worker threads internally).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "rs/core/status.h"

namespace rs::tool {

struct InfoOptions {
  std::string file;
  bool json = false;
};

struct TokenizeOptions {
  std::string file;
  std::string text;
  bool no_bos = false;
  bool json = false;
};

struct GenerateOptions {
  std::string file;
  std::string prompt;
  int n_tokens = 64;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repeat_penalty = 1.0f;
  int64_t seed = -1;  // < 0: random
  int threads = 0;
  bool json = false;
  int logprobs = -1;         // >= 0: each generated token's logprob and this many alternatives
  int prompt_logprobs = -1;  // >= 0: each prompt token's logprob and this many alternatives
  std::string kv_cache_type = "f16";
};

struct ChatOptions {
  std::string file;           // a GGUF model (its template and tokenizer), or ""
  std::string template_file;  // a Jinja file: replaces the model's template, or stands alone
  std::string messages;       // JSON array (or @FILE)
  std::string tools;          // JSON array (or @FILE), "" = none
  std::string kwargs;         // JSON object of extra variables (or @FILE), "" = none
  bool add_generation_prompt = false;
  std::optional<std::string> bos_token, eos_token;  // default: the model's (else "")
  bool ids = false;           // print the prompt's token ids (needs a model)
};

struct SynthOptions {
  std::string arch = "llama";
  int dim = 64;
  int layers = 2;
  int heads = 4;
  int kv_heads = 4;
  int ffn = 128;
  std::string type = "f32";
  std::string vocab_from;
  uint64_t seed = 1;
  int ctx = 2048;
  std::string out;
};

int run_info(const InfoOptions& opts);
int run_tokenize(const TokenizeOptions& opts);
int run_generate(const GenerateOptions& opts);
int run_synth(const SynthOptions& opts);
int run_chat(const ChatOptions& opts);

// Prints "ringserve-model: <what>: <status>" to stderr and returns 1.
int fail(const std::string& what, const Status& status);
int fail(const std::string& message);

}  // namespace rs::tool
