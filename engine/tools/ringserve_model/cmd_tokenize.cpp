// `ringserve-model tokenize FILE TEXT [--no-bos] [--json]`: token ids (and pieces).
#include <cstdio>
#include <string>

#include "commands.h"
#include "gguf_util.h"
#include "rs/engine/tokenizer.h"

namespace rs::tool {

int run_tokenize(const TokenizeOptions& opts) {
  auto file = open_gguf(opts.file);
  if (!file.ok()) return fail(opts.file, file.status());
  auto tokenizer = engine::Tokenizer::from_gguf(**file);
  if (!tokenizer.ok()) return fail(opts.file, tokenizer.status());
  const engine::Tokenizer& tok = **tokenizer;
  std::vector<int32_t> ids = tok.encode(opts.text, !opts.no_bos);
  if (opts.json) {
    std::printf("%s\n", dump_json(nlohmann::json{{"ids", ids}}).c_str());
    return 0;
  }
  for (int32_t id : ids) {
    // The piece as a JSON string literal: quotes, escapes and invalid bytes handled.
    std::string piece = dump_json(nlohmann::json(tok.piece(id)));
    std::printf("%6d  %s\n", id, piece.c_str());
  }
  std::printf("%zu tokens\n", ids.size());
  return 0;
}

}  // namespace rs::tool
