// `ringserve batch run`: the OUTPUT.jsonl side. The resume scan (which ids already have a
// line; a torn last line from a killed run is cut off), the result -> output line format,
// the OUTPUT.batch sidecar holding the batch id, and an append-only writer that flushes
// every line. Main thread.
#pragma once

#include <cstdio>
#include <string>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "rs/core/result.h"
#include "rs/store/batch_streams.h"

namespace rs::cli {

struct OutputScan {
  std::unordered_set<std::string> ids;  // ids with a line
  size_t succeeded = 0;
  size_t failed = 0;                    // FAILED or CANCELLED
  bool exists = false;                  // the file was there
  bool cut_torn_line = false;           // a last line without its newline was removed
};

// Reads OUTPUT (a missing file is an empty scan). A complete line that is not a result
// line is an error naming it; an incomplete last line is truncated away.
Result<OutputScan> scan_output(const std::string& path);

// {"id","state","text","usage":{prompt_tokens,completion_tokens,queue_ms,ttft_ms,decode_tps},
//  "error","job_id","model_version","error_code"}
nlohmann::ordered_json output_line(const store::BatchResult& result);

// The batch id: `flag` if set, else OUTPUT.batch if it is there (and OUTPUT is: an OUTPUT
// deleted since means a new batch), else a fresh id; written to OUTPUT.batch.
// invalid_argument when --batch and the sidecar disagree or an id is malformed.
Result<std::string> resolve_batch_id(const std::string& flag, const std::string& output_path, bool output_exists);
std::string fresh_batch_id();

class OutputWriter {
 public:
  OutputWriter() = default;
  ~OutputWriter();
  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

  Status open(const std::string& path);  // append, created if missing
  // One line (JSON + '\n'), flushed to the OS before returning.
  Status write(const nlohmann::ordered_json& line);

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace rs::cli
