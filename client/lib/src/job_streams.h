// JobStreams: the per-job demultiplexer of one Client. TOKENS and DONE for many jobs
// arrive interleaved on one socket; each job gets a stream that buffers them until the
// owner waits on it, drops a seq already delivered and holds ahead-of-order entries until
// the gap fills. Plain data owned by the Client's thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "rs/core/status.h"
#include "rs/schemas/messages.h"

namespace rs::client {

struct JobStream {
  uint64_t next_seq = 0;                            // next seq to hand to the caller
  std::map<uint64_t, schemas::TokenEntry> pending;  // received, not yet delivered
  std::optional<schemas::JobRecord> done;           // the final record, once DONE arrived
  Status error;                                     // an ERROR naming this job
  bool lagged = false;  // the broker dropped the stream (`lagged`): SUBSCRIBE again from next_seq
};

class JobStreams {
 public:
  // Starts (or keeps) the stream of a job this client submitted or subscribed to; a
  // finished-and-collected job is opened again. from_seq: the first seq wanted.
  void open(const std::string& job_id, uint64_t from_seq);
  bool has(const std::string& job_id) const { return streams_.count(job_id) != 0; }
  JobStream* find(const std::string& job_id);

  // Buffers one entry (drops a duplicate or one before next_seq). Entries for a job whose
  // stream was collected already are dropped; unknown jobs get a stream (they may be
  // waited on later).
  void add_token(schemas::TokenEntry entry);
  void add_done(schemas::JobRecord record);
  void add_error(const std::string& job_id, Status error);

  // Moves the deliverable entries (contiguous from next_seq) into `out`, in order.
  void take_ready(JobStream& stream, std::vector<schemas::TokenEntry>& out);
  // Forgets a stream after its final record was handed out.
  void collect(const std::string& job_id);

  size_t size() const { return streams_.size(); }

 private:
  std::unordered_map<std::string, JobStream> streams_;
  static constexpr size_t kMaxCollected = 65536;
  std::unordered_set<std::string> collected_;  // finished and handed out: late copies dropped
};

}  // namespace rs::client
