// `ringserve batch run`: reading INPUT.jsonl into requests (one JSON object per line, checked
// before anything is enqueued, errors naming the line) and the batch / item id rule.
// Pure functions over files; main thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rs/core/result.h"
#include "rs/schemas/messages.h"

namespace rs::cli {

// Batch ids and item ids: 1-128 of [A-Za-z0-9._:-].
bool valid_batch_id(std::string_view id);

// Values for the keys a line leaves out (--model, --max-tokens, ...).
struct BatchDefaults {
  std::string model;
  uint32_t max_tokens = 128;
  std::optional<float> temperature;
  std::optional<uint64_t> seed;
};

struct BatchLine {
  size_t line_no = 0;  // 1-based line of INPUT
  std::string id;      // "id", else the line number as a string
  schemas::SubmitRequest request;  // priority batch
};

// One line (without its newline) -> a request; invalid_argument naming the key otherwise.
Result<BatchLine> parse_batch_line(std::string_view text, size_t line_no, const BatchDefaults& defaults);

// Every non-blank line of the file. On errors: invalid_argument listing the first few as
// "INPUT:<line>: <what>" (and duplicate ids, naming both lines).
Result<std::vector<BatchLine>> read_batch_input(const std::string& path, const BatchDefaults& defaults);

}  // namespace rs::cli
