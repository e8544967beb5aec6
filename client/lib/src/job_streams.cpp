// JobStreams: per-job buffering, seq dedup and ordering for the Client.
#include "job_streams.h"

#include <utility>

namespace rs::client {

void JobStreams::open(const std::string& job_id, uint64_t from_seq) {
  collected_.erase(job_id);
  auto [it, inserted] = streams_.try_emplace(job_id);
  JobStream& s = it->second;
  if (inserted) {
    s.next_seq = from_seq;
    return;
  }
  if (s.done.has_value() || !s.error.ok()) {
    // A replay of a finished job: start over from the requested seq.
    s = JobStream{};
    s.next_seq = from_seq;
    return;
  }
  // Already streaming (e.g. submitted here): keep what was delivered; drop what is below.
  if (from_seq > s.next_seq) {
    s.next_seq = from_seq;
    while (!s.pending.empty() && s.pending.begin()->first < from_seq) s.pending.erase(s.pending.begin());
  }
}

JobStream* JobStreams::find(const std::string& job_id) {
  auto it = streams_.find(job_id);
  return it == streams_.end() ? nullptr : &it->second;
}

void JobStreams::add_token(schemas::TokenEntry entry) {
  if (collected_.count(entry.job_id) != 0) return;
  JobStream& s = streams_[entry.job_id];
  if (entry.seq < s.next_seq || s.done.has_value()) return;
  uint64_t seq = entry.seq;
  s.pending.try_emplace(seq, std::move(entry));
}

void JobStreams::add_done(schemas::JobRecord record) {
  if (collected_.count(record.job_id) != 0) return;
  JobStream& s = streams_[record.job_id];
  if (!s.done.has_value()) s.done = std::move(record);
}

void JobStreams::add_error(const std::string& job_id, Status error) {
  auto it = streams_.find(job_id);
  if (it == streams_.end() || it->second.done.has_value()) return;
  if (it->second.error.ok()) it->second.error = std::move(error);
}

void JobStreams::take_ready(JobStream& stream, std::vector<schemas::TokenEntry>& out) {
  auto& p = stream.pending;
  while (!p.empty() && p.begin()->first <= stream.next_seq) {
    if (p.begin()->first == stream.next_seq) {
      out.push_back(std::move(p.begin()->second));
      ++stream.next_seq;
    }
    p.erase(p.begin());
  }
}

void JobStreams::collect(const std::string& job_id) {
  streams_.erase(job_id);
  // Bounded: a copy arriving for a job forgotten here only costs a stray buffered stream.
  if (collected_.size() >= kMaxCollected) collected_.clear();
  collected_.insert(job_id);
}

}  // namespace rs::client
