// StoreCommands: BrokerState's typed store writes and reads as Redis commands (through
// rs_store's command builders), and a batch's replies back as typed results, one per write
// and per read. A StoreLayout remembers what each command of a batch was. Pure over the
// stores' options (no I/O); the broker loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rs/broker/store_ops.h"
#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"
#include "rs/store/redis_connection.h"
#include "rs/store/token_log.h"

namespace rs::broker {

struct StoreLayout {
  enum class Kind : uint8_t { kCreate, kTokens, kLogMarker, kOther, kLoadRecord, kReadTokens };
  struct Part {
    Kind kind = Kind::kOther;
    uint32_t n_commands = 1;
    uint32_t n_appends = 0;  // the first commands that are token appends or a final marker
    std::string job;        // kCreate, kLoadRecord, kReadTokens
    uint64_t from_seq = 0;  // kReadTokens
  };
  uint64_t seq = 0;
  std::vector<Part> writes;
  std::vector<Part> reads;
};

class StoreCommands {
 public:
  StoreCommands(store::RedisConnection& conn, const std::string& key_prefix,
                int64_t finished_ttl_s);

  // The batch's commands, in order (every write's, then every read's).
  std::vector<store::RedisCommand> build(StoreBatch batch, StoreLayout& layout) const;
  // One result per write and per read of the batch `layout` describes.
  static BatchReplies parse(const StoreLayout& layout, const std::vector<store::RedisReply>& replies);

 private:
  void add_write(StoreWrite& write, std::vector<store::RedisCommand>& out,
                 StoreLayout& layout) const;

  store::JobStore jobs_;
  store::TokenLog log_;
  store::IngestStream ingest_;
  store::BatchResults results_;
};

}  // namespace rs::broker
