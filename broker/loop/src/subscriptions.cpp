// BrokerLoop: the token path. Tokens accepted in a loop turn go to Redis in one pipelined
// round trip, then to the submitter and subscribers; SUBSCRIBE replays from the TokenLog,
// then streams live (no gap: pending tokens are flushed before the replay reads Redis).
#include <spdlog/spdlog.h>

#include <limits>
#include <span>

#include "rs/broker/loop/broker_loop.h"
#include "rs/schemas/errors.h"

namespace rs::broker {

using schemas::ErrorCode;

void BrokerLoop::flush_tokens() {
  if (pending_tokens_.empty()) return;
  std::vector<schemas::TokenEntry> entries;
  entries.swap(pending_tokens_);
  std::vector<store::RedisCommand> cmds;
  token_log_->append_commands(entries, cmds);
  const size_t n_append = cmds.size();
  for (const schemas::TokenEntry& e : entries) {
    auto it = live_.find(e.job_id);
    if (it == live_.end() || it->second.running_written) continue;
    LiveJob& job = it->second;
    job.running_written = true;
    job.record.state = schemas::JobState::kRunning;
    job.record.started_ms = now_unix_ms();
    cmds.push_back(jobs_store_->transition_command(
        e.job_id, store::Transition{.to = schemas::JobState::kRunning,
                                    .at_ms = job.record.started_ms}));
  }
  auto replies = redis_->pipeline(cmds);
  if (!replies.ok()) {
    counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("broker: token append: {}", replies.status().to_string());
  } else {
    auto stats = store::TokenLog::parse_append_replies(
        std::span<const store::RedisReply>(replies->data(), n_append));
    if (!stats.ok()) counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
  }
  counters_.tokens.fetch_add(entries.size(), std::memory_order_relaxed);
  forward_tokens(entries);
}

void BrokerLoop::forward_tokens(const std::vector<schemas::TokenEntry>& entries) {
  std::unordered_map<JobId, schemas::TokenBatch> by_job;
  for (const schemas::TokenEntry& e : entries) by_job[e.job_id].entries.push_back(e);
  for (auto& [id, batch] : by_job) {
    auto it = live_.find(id);
    if (it == live_.end()) continue;
    const LiveJob& job = it->second;
    if (job.request.stream && !job.submitter.empty()) send_client(job.submitter, batch);
    for (const Subscriber& s : job.subscribers) {
      if (batch.entries.back().seq < s.from_seq) continue;
      if (batch.entries.front().seq >= s.from_seq) {
        send_client(s.peer, batch);
        continue;
      }
      schemas::TokenBatch part;
      for (const auto& e : batch.entries) {
        if (e.seq >= s.from_seq) part.entries.push_back(e);
      }
      send_client(s.peer, part);
    }
  }
}

Status BrokerLoop::replay(const wire::RoutingIds& peer, const std::string& job_id,
                          uint64_t from_seq, uint64_t until_seq) {
  uint64_t from = from_seq;
  while (from < until_seq) {
    auto read = token_log_->read(job_id, from);
    if (!read.ok()) return read.status();
    schemas::TokenBatch batch;
    for (auto& e : read->entries) {
      if (e.seq >= from && e.seq < until_seq) batch.entries.push_back(std::move(e));
    }
    if (batch.entries.empty()) break;
    from = batch.entries.back().seq + 1;
    send_client(peer, batch);
    if (read->finished) break;
  }
  return Status();
}

void BrokerLoop::on_subscribe(const wire::RoutingIds& peer, const schemas::SubscribeRequest& request) {
  flush_tokens();
  auto it = live_.find(request.job_id);
  if (it != live_.end()) {
    Status s = replay(peer, request.job_id, request.from_seq, it->second.next_seq);
    if (!s.ok()) {
      counters_.redis_errors.fetch_add(1, std::memory_order_relaxed);
      return reply_error(peer, request.request_id,
                         schemas::wire_error(ErrorCode::kUnavailable, s.message()), request.job_id);
    }
    it->second.subscribers.push_back(Subscriber{peer, request.from_seq});
    return;
  }
  auto record = jobs_store_->load(request.job_id);
  if (!record.ok()) {
    bool missing = record.status().code() == StatusCode::kNotFound;
    return reply_error(peer, request.request_id,
                       schemas::wire_error(missing ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
                                           record.status().message()),
                       request.job_id);
  }
  Status s = replay(peer, request.job_id, request.from_seq, std::numeric_limits<uint64_t>::max());
  if (!s.ok() || !schemas::is_terminal(record->state)) {
    return reply_error(peer, request.request_id,
                       schemas::wire_error(ErrorCode::kUnavailable,
                                           "job is not live on this broker and not finished"),
                       request.job_id);
  }
  send_client(peer, schemas::Done{.record = *record});
}

}  // namespace rs::broker
