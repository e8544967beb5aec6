// TurnBatch: what one turn of BrokerState has decided but not yet done: the typed store
// writes (job creations, job changes such as transitions, token appends, final markers)
// to hand over as one pipeline, the reads that follow them, and the replies to send once
// that pipeline is applied. A job's changes in one turn are coalesced into one write at
// the latest one's place. BrokerState's thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rs/broker/store_ops.h"
#include "rs/broker/types.h"
#include "rs/schemas/frames.h"
#include "rs/schemas/messages.h"

namespace rs::broker {

// A SUBMIT waiting for its creation in Redis. Without an idempotency key the job is
// admitted at once (admitted: its ACCEPTED and DISPATCH wait in this batch's outbox and
// are withdrawn if the create fails); with one, it is admitted once the reply says new.
struct PendingCreate {
  RoutingIds peer;
  uint64_t request_id = 0;
  std::string job_id;
  bool admitted = false;
  schemas::SubmitRequest request;  // not admitted only
  schemas::JobRecord record;       // not admitted only
  int dup_of = -1;  // an earlier create of this batch with the same idempotency key
  // Ingest: the stream entry this job comes from (acked with the create); its batch and
  // item id; and, for an entry that failed validation, the error it fails with at once.
  std::string ingest_entry;
  std::string batch;
  std::string item_id;
  schemas::ErrorCode fail_code = schemas::ErrorCode::kOk;
  std::string fail_error;
  // Answered before its batch was applied (REJECTED unavailable while Redis failed; a
  // discard write then removes whatever of it reaches Redis).
  bool answered = false;
};

// A read that must see every write staged before it: SUBSCRIBE's replay and STATUS of an
// ended job go at the end of the turn's pipeline (TurnBatch::add_read), so the store runs
// them after those writes and their results come back with the batch (nothing waits); a
// PING waits in BrokerState::deferred_ for batch after_seq (its PONG follows the answers
// to the requests before it).
struct DeferredRead {
  uint64_t after_seq = 0;
  RoutingIds peer;
  uint64_t request_id = 0;
  std::string job_id;
  bool subscribe = false;  // else STATUS (or PING)
  bool ping = false;       // a PING: its PONG follows the answers to requests before it
  bool live = false;       // subscribe: the job was live (already subscribed to its tail)
  uint64_t from_seq = 0;   // subscribe: the replay's range [from_seq, until_seq)
  uint64_t until_seq = 0;
  uint64_t subscription = 0;  // subscribe: ClientStreams' id of the subscription it answers
  std::string tenant;  // a client key's tenant: a job of another is not found ("" = any)
};


// A reply to send after the commit.
struct Outgoing {
  bool to_worker = false;
  std::string job;        // set on an admitted job's ACCEPTED and DISPATCH (withdrawable)
  RoutingIds peer;  // client
  std::string worker;     // worker id (resolved to its route when sent)
  schemas::Frames frames;
  bool dispatch = false;  // a DISPATCH: failing to send it means the worker is gone
  std::string stream_job;  // a job's TOKENS to a client: a full queue makes it `lagged`
  // stream_job only: the first seq this message carries (TOKENS), or the seq after the
  // job's last token (DONE): what the client is told to resume from if it is lagged here.
  uint64_t stream_seq = 0;
  bool tokens = false;  // stream_job's TOKENS: sent before its turn's writes while Redis fails
  uint64_t post_id = 0;  // stream_job only: its order among every stream message posted
};

class TurnBatch {
 public:
  // The index of the new create; dup_of is set when the key was seen in this batch (that
  // create is not written again).
  size_t add_create(PendingCreate create, CreateJob write);
  // A change of a job's hash; merged with an earlier change of the same job this turn
  // (one write, at the later one's place; a repeated field's last value wins).
  void add_job_change(const std::string& job, JobChange change);
  void add_write(StoreWrite write);
  // A read whose store reads go after every write of the pipeline.
  void add_read(DeferredRead read, std::vector<StoreRead> reads);
  std::vector<DeferredRead>& reads() { return reads_; }
  void add_outgoing(Outgoing out) { outbox_.push_back(std::move(out)); }
  // A later turn's replies (a turn without writes) go out with this one, in order.
  void append_outbox(std::vector<Outgoing> more) {
    for (Outgoing& o : more) outbox_.push_back(std::move(o));
  }

  // Tokens accepted this turn, grouped per job in first-seen order; they become one
  // AppendTokens per job when taken, at the commit or before the job's final marker.
  void add_token(schemas::TokenEntry entry);
  std::vector<schemas::TokenEntry> take_tokens(const std::string& job);
  std::vector<std::vector<schemas::TokenEntry>> take_all_tokens();

  bool empty() const {
    return n_writes_ == 0 && creates_.empty() && outbox_.empty() && token_groups_.empty() &&
           reads_.empty();
  }
  bool has_writes() const { return n_writes_ != 0 || !store_reads_.empty(); }
  bool has_tokens() const { return !token_groups_.empty(); }
  // The writes (then the reads) in order, moved out. After it, create_of() gives each
  // write's create index (SIZE_MAX: not a create) and read_of() each store read's
  // DeferredRead, so the batch's results can be matched.
  StoreBatch take_batch();
  const std::vector<size_t>& create_of() const { return create_of_out_; }
  const std::vector<size_t>& read_of() const { return read_of_; }

  std::vector<PendingCreate>& creates() { return creates_; }
  std::vector<Outgoing>& outbox() { return outbox_; }
  // Creates staged but not yet admitted (not counted in the Dispatcher's queue).
  size_t pending_creates() const { return creates_.size() - n_admitted_; }
  // Room for as many writes, creates and replies as `like` holds (the next turn's batch
  // sized as the last one: its vectors do not grow by moving their elements).
  void reserve_like(const TurnBatch& like);
  // Drops (never sends) the outgoing messages tagged with this job.
  void withdraw_outgoing(const std::string& job);

 private:
  // write_create_[i]: writes_[i]'s index into creates_ (SIZE_MAX: not a create), or
  // kMergedOut: a job change merged into a later one (not written). The writes stay in
  // one vector handed over whole (a StoreWrite is ~900 bytes: no copying them twice).
  static constexpr size_t kMergedOut = SIZE_MAX - 1;
  std::vector<StoreWrite> writes_;
  std::vector<size_t> write_create_;
  size_t n_writes_ = 0;
  std::unordered_map<std::string, size_t> last_set_;    // job id -> index in writes_
  std::unordered_map<std::string, size_t> idempotent_;  // idempotency key -> create index
  std::vector<PendingCreate> creates_;
  size_t n_admitted_ = 0;
  std::vector<Outgoing> outbox_;
  std::vector<std::vector<schemas::TokenEntry>> token_groups_;
  std::unordered_map<std::string, size_t> token_group_of_;  // job id -> index
  std::vector<DeferredRead> reads_;
  std::vector<StoreRead> store_reads_;
  std::vector<size_t> read_of_;  // store_reads_[i] belongs to reads_[read_of_[i]]
  std::vector<size_t> create_of_out_;
};

// A turn whose writes were handed to the StoreWriter: its replies wait for them.
struct HeldTurn {
  uint64_t seq = 0;  // the StoreWriter's batch number
  size_t n_commands = 0;
  int64_t submitted_ns = 0;  // when it went to the writer
  // Its TOKENS may go out before it is applied (while Redis fails): no journal, or its
  // writes are in the journal.
  bool releasable = true;
  TurnBatch batch;   // creates to answer, the outbox to send once applied
};


}  // namespace rs::broker
