// StreamingClient: one raw client DEALER (WirePeer) with many streamed jobs: submit each,
// then read TOKENS and DONE as they come, keeping every job's sequence numbers, tokens and
// DONE records exactly as received (so the wire is checked, not rs_client's view).
// Test thread only.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "wire_peer.h"

namespace rs::test {

namespace sc = rs::schemas;

struct Stream {
  std::vector<uint64_t> seqs;   // in arrival order, every entry as received
  std::vector<int32_t> tokens;
  std::vector<uint32_t> attempts;  // the attempt each entry came from
  std::optional<sc::JobRecord> done;
  size_t n_done = 0;
};

// One raw client with some jobs: reads until each has its DONE (or the deadline).
class StreamingClient {
 public:
  StreamingClient(zmq::context_t& ctx, const std::string& endpoint) : peer_(ctx, endpoint) {}
  bool submit(const sc::SubmitRequest& request, std::string* job_id) {
    sc::SubmitRequest r = request;
    r.request_id = ++next_request_;
    if (!peer_.send(r)) return false;
    for (;;) {  // ACCEPTED comes before this job's tokens; other jobs' tokens may come first
      auto m = peer_.recv(10000);
      if (!m) return false;
      if (auto* acc = std::get_if<sc::Accepted>(&*m); acc && acc->request_id == r.request_id) {
        *job_id = acc->job_id;
        streams_[acc->job_id];
        return true;
      }
      if (!absorb(*m)) return false;
    }
  }
  // SUBSCRIBE to a job from from_seq (a replay from its log, then its live tokens).
  bool subscribe(const std::string& job_id, uint64_t from_seq) {
    streams_[job_id];
    return peer_.send(sc::SubscribeRequest{.request_id = ++next_request_, .job_id = job_id,
                                           .from_seq = from_seq});
  }
  // Reads one message (false on timeout or an unexpected reply).
  bool read_one(long timeout_ms) {
    auto m = peer_.recv(timeout_ms);
    return m.has_value() && absorb(*m);
  }
  bool all_done() const {
    for (const auto& [job, s] : streams_) {
      if (!s.done) return false;
    }
    return true;
  }
  size_t jobs_with_tokens() const {
    size_t n = 0;
    for (const auto& [job, s] : streams_) n += s.seqs.empty() ? 0 : 1;
    return n;
  }
  std::map<std::string, Stream>& streams() { return streams_; }

 private:
  bool absorb(const sc::Message& m) {
    if (auto* t = std::get_if<sc::TokenBatch>(&m)) {
      for (const auto& e : t->entries) {
        Stream& s = streams_[e.job_id];
        s.seqs.push_back(e.seq);
        s.tokens.push_back(e.token);
        s.attempts.push_back(e.attempt);
      }
      return true;
    }
    if (auto* d = std::get_if<sc::Done>(&m)) {
      Stream& s = streams_[d->record.job_id];
      s.done = d->record;
      ++s.n_done;
      return true;
    }
    ADD_FAILURE() << "unexpected message " << describe(m);
    return false;
  }

  WirePeer peer_;
  uint64_t next_request_ = 0;
  std::map<std::string, Stream> streams_;
};

}  // namespace rs::test
