// SimStore: the job store as BrokerState's typed writes and reads see it (Redis's
// semantics for each, in memory), for broker_state_sim_test: creates by idempotency key
// (a create applied again is still that job), job changes, token logs idempotent by seq
// with a final marker, the live index. It records violations of the broker's promises as
// it applies (a job ended by two batches, a change after the end, a marker over a hole).
// One test thread.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "rs/broker/store_ops.h"

namespace rs::broker::sim {

// The token a job produces at a position: a resumed attempt must produce the same.
inline int32_t token_at(const std::string& job, uint64_t seq) {
  uint64_t h = 1469598103934665603ULL;
  for (char c : job) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  h ^= seq * 0x9e3779b97f4a7c15ULL;
  h ^= h >> 29;
  return static_cast<int32_t>(h % 30000);
}

struct SimStore {
  struct Job {
    schemas::JobRecord record;
    schemas::SubmitRequest request;
  };
  std::map<std::string, Job> jobs;
  std::set<std::string> live;
  std::map<std::string, std::string> keys;                    // idempotency key -> job
  std::map<std::string, std::map<uint64_t, int32_t>> logs;    // job -> seq -> token
  std::map<std::string, uint64_t> markers;                    // job -> n_tokens
  std::set<std::string> dead;
  std::map<std::string, uint64_t> ended_in;  // job -> the batch of its terminal change
  std::vector<std::string> violations;

  BatchReplies apply(uint64_t seq, const StoreBatch& batch) {
    BatchReplies out;
    for (const StoreWrite& w : batch.writes) out.writes.push_back(write(seq, w));
    for (const StoreRead& r : batch.reads) out.reads.push_back(read(r));
    return out;
  }

 private:
  void violation(std::string what) { violations.push_back(std::move(what)); }

  WriteResult write(uint64_t seq, const StoreWrite& w) {
    WriteResult result;
    std::visit([&](const auto& op) { apply_op(seq, op, result); }, w);
    return result;
  }

  void apply_op(uint64_t seq, const CreateJob& c, WriteResult& r) {
    const std::string& id = c.record.job_id;
    const std::string& key = c.request.idempotency_key;
    if (!key.empty()) {
      auto [it, inserted] = keys.try_emplace(key, id);
      if (!inserted) {  // created before (this job: applied again) or another job's key
        r.create = CreateOutcome{it->second, it->second == id};
        return;
      }
    }
    jobs[id] = Job{c.record, c.request};
    r.create = CreateOutcome{id, true};
    apply_changes(seq, id, c.changes);
  }
  void apply_op(uint64_t, const AddLive& a, WriteResult&) { live.insert(a.job); }
  void apply_op(uint64_t, const RemoveLive& a, WriteResult&) { live.erase(a.job); }
  void apply_op(uint64_t seq, const SetJob& s, WriteResult&) { apply_changes(seq, s.job, s.changes); }
  void apply_changes(uint64_t seq, const std::string& job, const std::vector<JobChange>& changes) {
    auto it = jobs.find(job);
    if (it == jobs.end()) return;  // a hash of fields only (a refused job's): not a job
    schemas::JobRecord& rec = it->second.record;
    for (const JobChange& c : changes) {
      if (!c.transition) continue;
      const schemas::JobTransition& t = *c.transition;
      auto ended = ended_in.find(job);
      if (ended != ended_in.end() && ended->second != seq) {
        violation(job + ": changed to " + std::string(schemas::job_state_name(t.to)) +
                  " by batch " + std::to_string(seq) + " after it ended in batch " +
                  std::to_string(ended->second));
        continue;
      }
      rec.state = t.to;
      if (t.attempt != 0) rec.attempt = t.attempt;
      if (t.to == schemas::JobState::kDispatched) {
        rec.worker = t.worker;
        rec.device = t.device;
      }
      if (schemas::is_terminal(t.to)) {
        ended_in[job] = seq;
        if (t.usage) rec.usage = *t.usage;
        rec.error_code = t.error_code;
        rec.error = t.error;
        rec.finish_reason = t.finish_reason;
      }
    }
  }
  void apply_op(uint64_t, const AppendTokens& a, WriteResult& r) {
    for (const schemas::TokenEntry& e : a.entries) {
      auto& log = logs[e.job_id];
      if (markers.count(e.job_id) != 0 || log.count(e.seq) != 0) {
        if (log.count(e.seq) != 0 && log[e.seq] != e.token) {
          violation(e.job_id + ": seq " + std::to_string(e.seq) + " written with two tokens");
        }
        ++r.duplicates;
        continue;
      }
      log[e.seq] = e.token;
    }
  }
  void apply_op(uint64_t seq, const FinishLog& f, WriteResult& r) {
    if (!f.tokens.empty()) apply_op(seq, AppendTokens{.entries = f.tokens}, r);
    auto [it, inserted] = markers.try_emplace(f.job, f.n_tokens);
    if (!inserted && it->second != f.n_tokens) {
      violation(f.job + ": two final markers");
      return;
    }
    const auto& log = logs[f.job];
    for (uint64_t s = 0; s < f.n_tokens; ++s) {
      if (log.count(s) == 0) {
        violation(f.job + ": final marker " + std::to_string(f.n_tokens) + " over a hole at " +
                  std::to_string(s));
        break;
      }
    }
  }
  void apply_op(uint64_t, const DeadLetter& d, WriteResult&) { dead.insert(d.job); }
  void apply_op(uint64_t, const DiscardJob& d, WriteResult&) {
    jobs.erase(d.job);
    live.erase(d.job);
    auto k = keys.find(d.idempotency_key);
    if (k != keys.end() && k->second == d.job) keys.erase(k);
  }
  void apply_op(uint64_t, const AckIngest&, WriteResult&) {}
  void apply_op(uint64_t, const ExpireJob&, WriteResult&) {}
  void apply_op(uint64_t, const AppendBatchResult&, WriteResult&) {}

  ReadResult read(const StoreRead& r) {
    ReadResult out;
    if (const auto* load = std::get_if<LoadRecord>(&r)) {
      auto it = jobs.find(load->job);
      if (it == jobs.end()) out.record = Status(StatusCode::kNotFound, "no job " + load->job);
      else out.record = it->second.record;
      return out;
    }
    const auto& tokens = std::get<ReadTokens>(r);
    LogRead log;
    auto it = logs.find(tokens.job);
    if (it != logs.end()) {
      for (auto e = it->second.lower_bound(tokens.from_seq); e != it->second.end(); ++e) {
        log.entries.push_back(schemas::TokenEntry{.job_id = tokens.job, .seq = e->first,
                                                  .token = e->second, .text = "t"});
      }
    }
    if (auto m = markers.find(tokens.job); m != markers.end()) {
      log.finished = true;
      log.n_tokens = m->second;
    }
    out.log = std::move(log);
    return out;
  }
};

}  // namespace rs::broker::sim
