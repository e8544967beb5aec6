// Tracing for broker_state_sim.h: RS_SIM_TRACE=<job id> prints that job's messages and
// store writes on stderr, each with the simulated time. One test thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <variant>

#include "rs/broker/store_ops.h"
#include "rs/schemas/frames.h"
#include "rs/schemas/protocol.h"

namespace rs::broker::sim {

namespace sc = rs::schemas;

inline const char* trace_job() {
  static const char* job = std::getenv("RS_SIM_TRACE");
  return job;
}

// Whether a message concerns the traced job.
inline bool traced(const sc::Message& m) {
  const char* job = trace_job();
  if (job == nullptr) return false;
  bool hit = false;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (requires { v.entries; }) {
          for (const sc::TokenEntry& e : v.entries) hit = hit || e.job_id == job;
        } else if constexpr (std::is_same_v<T, sc::Done>) {
          hit = v.record.job_id == job;
        } else if constexpr (requires { v.job_id; }) {
          hit = v.job_id == job;
        }
      },
      m);
  return hit;
}

inline void trace(int64_t now_ns, const std::string& what) {
  if (trace_job() == nullptr) return;
  std::fprintf(stderr, "TRACE t=%lld ms %s\n",
               static_cast<long long>(now_ns / 1'000'000), what.c_str());
}
inline void trace_message(int64_t now_ns, const std::string& who, const sc::Message& m) {
  if (!traced(m)) return;
  std::string line = who + " " + std::string(sc::command_name(sc::message_command(m)));
  if (const auto* t = std::get_if<sc::TokenBatch>(&m)) {
    line += " seqs " + std::to_string(t->entries.front().seq) + ".." +
            std::to_string(t->entries.back().seq);
  } else if (const auto* w = std::get_if<sc::WorkerTokens>(&m)) {
    for (const sc::TokenEntry& e : w->entries) {
      if (e.job_id == trace_job()) line += " " + std::to_string(e.seq);
    }
  } else if (const auto* e = std::get_if<sc::ErrorReply>(&m)) {
    line += " " + e->message;
  }
  trace(now_ns, line);
}
inline void trace_frames(int64_t now_ns, const std::string& who, const sc::Frames& f) {
  if (trace_job() == nullptr) return;
  if (auto m = sc::parse_frames(f); m.ok()) trace_message(now_ns, who, *m);
}
inline void trace_batch(int64_t now_ns, uint64_t seq, const StoreBatch& batch) {
  if (trace_job() == nullptr) return;
  for (const StoreWrite& w : batch.writes) {
    const auto* a = std::get_if<AppendTokens>(&w);
    if (a != nullptr && a->entries.front().job_id == trace_job()) {
      trace(now_ns, "batch " + std::to_string(seq) + " appends " + std::to_string(a->entries.front().seq) +
            ".." + std::to_string(a->entries.back().seq));
    }
  }
  for (const StoreRead& r : batch.reads) {
    const auto* t = std::get_if<ReadTokens>(&r);
    if (t != nullptr && t->job == trace_job()) {
      trace(now_ns, "batch " + std::to_string(seq) + " reads from " + std::to_string(t->from_seq));
    }
  }
}

}  // namespace rs::broker::sim
