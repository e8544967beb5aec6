// WriteJournal: a local file of the broker's Redis write batches that are held while Redis
// fails (docs/BROKER.md "When Redis fails"), so that a broker killed before Redis answers
// again re-applies them at its next start. One record per batch: u32 payload length, u32
// CRC-32 of the payload, payload (u32 command count; per command u32 argument count; per
// argument u32 length and bytes; all little-endian). Appends are one write(2) each (the
// page cache survives a kill -9; no fsync). Used by the StoreWriter under its mutex (its
// thread and the loop's submit()); open() at start, before the writer runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rs/core/result.h"
#include "rs/core/status.h"
#include "rs/store/redis_connection.h"

namespace rs::broker {

using JournalBatch = std::vector<store::RedisCommand>;

class WriteJournal {
 public:
  explicit WriteJournal(std::string path) : path_(std::move(path)) {}
  ~WriteJournal();
  WriteJournal(const WriteJournal&) = delete;
  WriteJournal& operator=(const WriteJournal&) = delete;

  // Opens (creating) the file and returns the complete batches it holds, in order. A torn
  // or corrupt tail (a crash mid-append) is cut off: skipped_bytes() says how much.
  Result<std::vector<JournalBatch>> open();
  // Appends one batch (one write(2) of the whole record).
  Status append(const JournalBatch& batch);
  // Empties the file (every batch in it is applied).
  Status clear();

  const std::string& path() const { return path_; }
  uint64_t size_bytes() const { return size_bytes_; }
  uint64_t skipped_bytes() const { return skipped_bytes_; }

  // One record's bytes.
  static std::string encode(const JournalBatch& batch);
  // The form in which a journaled command is re-applied at start. Every broker write is
  // idempotent in order except a batch result's `XADD key * ...` (an auto id): it becomes
  // a script that adds it only if none of the stream's last kResultScan entries carries
  // the same job_id.
  static store::RedisCommand replay_form(const store::RedisCommand& command);
  static constexpr int kResultScan = 10000;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_bytes_ = 0;
  uint64_t skipped_bytes_ = 0;
};

}  // namespace rs::broker
