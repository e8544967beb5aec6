// BrokerState: the token path. Tokens accepted in a loop turn go to Redis in the turn's
// commit, then to the submitter and subscribers; SUBSCRIBE replays from the TokenLog, then
// streams live (no gap: the replay's read follows the turn's writes in its pipeline).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <span>

#include "rs/broker/broker_state.h"
#include "rs/schemas/codec.h"
#include "rs/schemas/errors.h"
#include "turn_batch.h"

namespace rs::broker {

using schemas::ErrorCode;

// Stages the accepted entries (grouped per job until the commit, so a turn's tokens of one
// job are one Redis entry), writes RUNNING on a job's first token, and posts the entries
// to the submitter and subscribers, behind the writes in the turn's order.
void BrokerState::accept_tokens(std::vector<schemas::TokenEntry>& entries) {
  if (entries.empty()) return;
  for (const schemas::TokenEntry& e : entries) {
    LiveJob* live = live_job(e.job_id);
    if (live != nullptr && !live->running_written) {
      LiveJob& job = *live;
      job.running_written = true;
      job.record.state = schemas::JobState::kRunning;
      job.record.started_ms = now_unix_ms();
      write_transition(e.job_id, schemas::JobTransition{.to = schemas::JobState::kRunning,
                                                        .at_ms = job.record.started_ms});
    }
  }
  counters_.tokens.fetch_add(entries.size(), std::memory_order_relaxed);
  // The entries themselves (not copies) go to the clients' TOKENS (encoded at once), then
  // to the turn's log writes: per job in first-seen order, as they came.
  for (auto& [id, batch] : forward_tokens(std::move(entries))) {
    for (schemas::TokenEntry& e : batch.entries) batch_->add_token(std::move(e));
  }
}

// One job's staged tokens into the turn's pipeline (the store writes one entry per run).
void BrokerState::stage_token_appends(std::vector<schemas::TokenEntry> entries) {
  if (entries.empty()) return;
  batch_->add_write(AppendTokens{.entries = std::move(entries)});
}

std::vector<std::pair<JobId, schemas::TokenBatch>> BrokerState::forward_tokens(
    std::vector<schemas::TokenEntry> entries) {
  // Grouped by job in first-seen order (a WORKER_TOKENS holds one step of its device's
  // running jobs: few groups, and a job's entries are usually adjacent).
  std::vector<std::pair<JobId, schemas::TokenBatch>> by_job;
  for (schemas::TokenEntry& e : entries) {
    auto group = std::find_if(by_job.rbegin(), by_job.rend(),
                              [&](const auto& g) { return g.first == e.job_id; });
    if (group == by_job.rend()) {
      by_job.emplace_back(e.job_id, schemas::TokenBatch{});
      by_job.back().second.entries.push_back(std::move(e));
    } else {
      group->second.entries.push_back(std::move(e));
    }
  }
  for (auto& [id, batch] : by_job) {
    const LiveJob* live = live_job(id);
    if (live == nullptr) continue;
    const LiveJob& job = *live;
    if (job.request.stream && !job.submitter.empty() && !job.submitter_subscribed) {
      post_stream(job.submitter, id, batch);
    }
    for (const Subscriber& s : job.subscribers) {
      if (batch.entries.back().seq < s.from_seq) continue;
      if (batch.entries.front().seq >= s.from_seq) {
        post_stream(s.peer, id, batch);
        continue;
      }
      schemas::TokenBatch part;
      for (const auto& e : batch.entries) {
        if (e.seq >= s.from_seq) part.entries.push_back(e);
      }
      post_stream(s.peer, id, part);
    }
  }
  return by_job;
}

// The log's entries from from_seq to until_seq, in TOKENS of about kReplayBatchBytes each
// (text, alternatives and prompt logprobs counted: a long log may hold more than one frame
// may carry).
uint64_t BrokerState::post_replay(const RoutingIds& peer, const std::string& job_id,
                                 std::vector<schemas::TokenEntry>& entries, uint64_t from_seq,
                                 uint64_t until_seq) {
  constexpr size_t kReplayBatchBytes = 1u << 20;
  schemas::TokenBatch batch;
  size_t bytes = 0;
  uint64_t next = from_seq;
  for (schemas::TokenEntry& e : entries) {
    if (e.seq < next || e.seq >= until_seq) continue;
    next = e.seq + 1;
    bytes += schemas::approx_wire_bytes(e);
    batch.entries.push_back(std::move(e));
    if (bytes >= kReplayBatchBytes) {
      post_stream(peer, job_id, batch);
      batch.entries.clear();
      bytes = 0;
    }
  }
  if (!batch.entries.empty()) post_stream(peer, job_id, batch);
  return next;
}

// A live job: subscribed now to what comes next (live tokens follow in turn order); what it
// already produced is read from the log at the end of this turn's pipeline and replayed
// when that batch is applied (store_events.cpp), ahead of the live tokens it releases. An
// ended job: its record and log are read the same way.
void BrokerState::on_subscribe(const RoutingIds& peer, const schemas::SubscribeRequest& request) {
  DeferredRead read{.peer = peer, .request_id = request.request_id, .job_id = request.job_id,
                    .subscribe = true, .from_seq = request.from_seq};
  if (peer.empty()) return;
  LiveJob* job = live_job(request.job_id);
  // Another tenant's job is read as an ended one: its record answers not_found, in order
  // with the PING a client sends behind its SUBSCRIBE.
  read.tenant = sender_tenant();
  if (job != nullptr && hidden_from_sender(job->record.tenant)) job = nullptr;
  const bool replay = job == nullptr || request.from_seq < job->next_seq;
  // One subscription per client and job: a repeated SUBSCRIBE (after `lagged`, or not)
  // replaces the earlier one, including what was posted to it and not sent yet (a held
  // turn's TOKENS): the new one gets exactly its replay and what follows.
  read.subscription = streams_.on_subscribe(peer.front(), request.job_id, job != nullptr && replay);
  if (job != nullptr) {
    read.live = true;
    read.until_seq = job->next_seq;
    std::erase_if(job->subscribers, [&](const Subscriber& s) { return s.peer == peer; });
    if (job->submitter == peer) job->submitter_subscribed = true;
    job->subscribers.push_back(Subscriber{peer, std::max(request.from_seq, job->next_seq)});
  }
  if (!replay) return;
  defer_read(std::move(read));
}

void BrokerState::subscribe_ended(const DeferredRead& read,
                                  const Result<schemas::JobRecord>& record,
                                  Result<LogRead>& log) {
  if (record.ok() && !read.tenant.empty() && record->tenant != read.tenant) {
    return reply_error(read.peer, read.request_id,
                       schemas::wire_error(ErrorCode::kNotFound, "job " + read.job_id + " not found"),
                       read.job_id);
  }
  if (!record.ok()) {
    bool missing = record.status().code() == StatusCode::kNotFound;
    return reply_error(read.peer, read.request_id,
                       schemas::wire_error(missing ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
                                           record.status().message()),
                       read.job_id);
  }
  uint64_t next_seq = read.from_seq;
  if (log.ok()) {
    next_seq = post_replay(read.peer, read.job_id, log->entries, read.from_seq,
                           std::numeric_limits<uint64_t>::max());
  }
  if (!log.ok() || !schemas::is_terminal(record->state)) {
    return reply_error(read.peer, read.request_id,
                       schemas::wire_error(ErrorCode::kUnavailable,
                                           "job is not live on this broker and not finished"),
                       read.job_id);
  }
  post_stream(read.peer, read.job_id, schemas::Done{.record = *record}, next_seq);
}

}  // namespace rs::broker
