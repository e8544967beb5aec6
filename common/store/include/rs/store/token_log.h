// TokenLog: each job's tokens in a Redis STREAM, for late subscribers and reconnects.
// One entry holds a group of consecutive tokens (one batch); its id encodes the group's
// LAST sequence number ("<last_seq>-1"), so Redis refuses a group that brings nothing past
// the stream's end, and a replay from S is XRANGE S + (the first group returned is the one
// holding S). A group overlapping earlier ones is resolved on read: a seq's first
// occurrence wins. The final marker has the largest possible id, so nothing can be
// appended after it. One thread (the connection's).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rs/core/result.h"
#include "rs/schemas/messages.h"
#include "rs/store/keys.h"
#include "rs/store/redis_connection.h"

namespace rs::store {

struct TokenLogOptions {
  KeySpace keys;
  int64_t finished_ttl_s = 0;  // TTL set on a stream by finish(); 0 = keep
  size_t max_read = 4096;      // entries per read() when the caller passes 0
};

struct AppendStats {
  size_t appended = 0;    // tokens in groups Redis accepted
  size_t duplicates = 0;  // tokens in groups refused (nothing past the end, or finished)
};

struct TokenReplay {
  std::vector<schemas::TokenEntry> entries;  // seq >= from_seq, in order
  bool finished = false;                     // the final marker was reached
  schemas::JobState final_state = schemas::JobState::kSucceeded;
  uint64_t n_tokens = 0;                     // from the final marker
};

// The start of one job's log that has no hole: seqs 0..n-1 (read_prefixes).
struct TokenPrefix {
  std::vector<int32_t> tokens;  // the token ids of seqs 0..n-1
  std::string text;             // their text pieces, concatenated
  Status status;                // not ok: the read failed; tokens hold what came before it
};

class TokenLog {
 public:
  explicit TokenLog(RedisConnection& conn, TokenLogOptions options = {});

  // Appends entries of any number of jobs in one pipelined round trip.
  Result<AppendStats> append(const std::vector<schemas::TokenEntry>& entries);
  // Writes the final marker (and the TTL, if configured).
  Status finish(std::string_view job_id, schemas::JobState state, uint64_t n_tokens);
  // Tokens with seq >= from_seq, at most max_count (0 = options.max_read); an unknown
  // job reads as empty and not finished.
  Result<TokenReplay> read(std::string_view job_id, uint64_t from_seq, size_t max_count = 0);
  // The contiguous start of each job's log (seqs 0..n-1, up to the first hole; the final
  // marker ends it), one per id in order: pipelined XRANGEs of at most `chunk` jobs per
  // round trip, a page (max_read entries) per job each time, further pages for the jobs
  // that filled theirs. A transport failure stops every read still to do (those jobs get
  // its status); a malformed log stops that job's. Never more than max_tokens per job.
  // round_trips, if given, is incremented once per pipeline sent.
  std::vector<TokenPrefix> read_prefixes(std::span<const std::string> job_ids,
                                         size_t max_tokens, size_t chunk = 512,
                                         size_t* round_trips = nullptr);

  // Building blocks for pipelines: one XADD (and one reply) per group of entries (a run of
  // one job and attempt with consecutive seqs); group_sizes gets each group's token count.
  void append_commands(const std::vector<schemas::TokenEntry>& entries, std::vector<RedisCommand>& out,
                       std::vector<size_t>* group_sizes = nullptr) const;
  // Without group_sizes every reply counts as one token.
  static Result<AppendStats> parse_append_replies(std::span<const RedisReply> replies,
                                                  std::span<const size_t> group_sizes = {});
  // read() in a pipeline: the groups holding seqs >= from_seq, at most max_entries groups
  // (0: to the end of the stream; every group holds at least one new seq, so seqs
  // [S, S + n) need at most n groups). The reply parses into every token it holds.
  RedisCommand read_command(std::string_view job_id, uint64_t from_seq, size_t max_entries = 0) const;
  static Result<TokenReplay> parse_read_reply(const RedisReply& reply, std::string_view job_id,
                                              uint64_t from_seq);
  // The final marker, plus an EXPIRE when finished_ttl_s > 0 (1 or 2 commands). `last`:
  // the job's tokens not yet appended; when they are one group ending at seq n_tokens - 1
  // the marker carries them (one XADD), else they are appended before it (append_commands).
  // Returns how many commands before the EXPIRE are appends (duplicates mean applied).
  size_t finish_commands(std::string_view job_id, schemas::JobState state, uint64_t n_tokens,
                         std::vector<RedisCommand>& out,
                         const std::vector<schemas::TokenEntry>& last = {}) const;

  const TokenLogOptions& options() const { return options_; }

 private:
  RedisConnection& conn_;
  TokenLogOptions options_;
};

}  // namespace rs::store
