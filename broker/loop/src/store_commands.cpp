// StoreCommands: typed writes and reads to Redis commands and back (docs/REDIS.md names
// the keys and commands).
#include "rs/broker/loop/store_commands.h"

#include <algorithm>
#include <span>
#include <type_traits>
#include <utility>

namespace rs::broker {
namespace {

using Kind = StoreLayout::Kind;

store::JobStoreOptions job_options(const std::string& prefix) {
  store::JobStoreOptions o;
  o.keys.prefix = prefix;
  o.checked_transitions = false;  // single writer: state and attempts fenced in memory
  return o;
}

store::TokenLogOptions log_options(const std::string& prefix, int64_t ttl_s) {
  store::TokenLogOptions o;
  o.keys.prefix = prefix;
  o.finished_ttl_s = ttl_s;
  return o;
}

store::IngestOptions ingest_options(const std::string& prefix) {
  store::IngestOptions o;
  o.keys.prefix = prefix;
  return o;
}

store::KeySpace key_space(const std::string& prefix) {
  store::KeySpace k;
  k.prefix = prefix;
  return k;
}

// A job's changes as HSET field pairs onto `c` (a transition sets up to 13 fields;
// model_version and adopted_ms one each).
void append_changes(const std::vector<JobChange>& changes, store::RedisCommand& c) {
  for (const JobChange& change : changes) {
    if (change.transition) store::JobStore::append_transition_fields(*change.transition, c);
    if (change.model_version) {
      c.emplace_back("model_version");
      c.push_back(std::to_string(*change.model_version));
    }
    if (change.adopted_ms) {
      c.emplace_back("adopted_ms");
      c.push_back(std::to_string(*change.adopted_ms));
    }
  }
}

// A turn's changes of one job as one HSET, built in place.
store::RedisCommand set_job_command(const store::JobStore& jobs, const SetJob& set) {
  store::RedisCommand c = jobs.begin_set_fields(set.job, 13 * set.changes.size());
  append_changes(set.changes, c);
  return c;
}

}  // namespace

StoreCommands::StoreCommands(store::RedisConnection& conn, const std::string& key_prefix,
                             int64_t finished_ttl_s)
    : jobs_(conn, job_options(key_prefix)),
      log_(conn, log_options(key_prefix, finished_ttl_s)),
      ingest_(conn, ingest_options(key_prefix)),
      results_(conn, key_space(key_prefix)) {}

std::vector<store::RedisCommand> StoreCommands::build(StoreBatch batch, StoreLayout& layout) const {
  std::vector<store::RedisCommand> out;
  out.reserve(batch.writes.size() + batch.reads.size());
  layout.writes.reserve(batch.writes.size());
  for (StoreWrite& w : batch.writes) add_write(w, out, layout);
  for (const StoreRead& r : batch.reads) {
    if (const auto* load = std::get_if<LoadRecord>(&r)) {
      out.push_back(jobs_.load_command(load->job));
      layout.reads.push_back({.kind = Kind::kLoadRecord, .job = load->job});
    } else {
      const auto& tokens = std::get<ReadTokens>(r);
      out.push_back(log_.read_command(tokens.job, tokens.from_seq, tokens.max_groups));
      layout.reads.push_back(
          {.kind = Kind::kReadTokens, .job = tokens.job, .from_seq = tokens.from_seq});
    }
  }
  return out;
}

void StoreCommands::add_write(StoreWrite& write, std::vector<store::RedisCommand>& out,
                              StoreLayout& layout) const {
  const size_t before = out.size();
  Kind kind = Kind::kOther;
  size_t n_appends = 0;  // token appends and final markers: a duplicate is applied
  std::string job;
  std::visit(
      [&](auto& w) {
        using T = std::decay_t<decltype(w)>;
        if constexpr (std::is_same_v<T, CreateJob>) {
          kind = Kind::kCreate;
          job = w.record.job_id;
          if (w.ingest_entry.empty()) {
            out.push_back(jobs_.create_command(w.record, w.request));
            // A plain create (no key) is an HSET: the job's changes of the turn join it.
            if (w.request.idempotency_key.empty()) append_changes(w.changes, out.back());
            return;
          }
          store::CreateExtras extras{.ack_stream = jobs_.options().keys.ingest(),
                                     .ack_group = "brokers", .ack_entry = w.ingest_entry};
          if (!w.batch.empty()) extras.fields = {{"batch", w.batch}, {"item_id", w.item_id}};
          out.push_back(jobs_.create_command(w.record, w.request, extras));
        } else if constexpr (std::is_same_v<T, AddLive>) {
          out.push_back(jobs_.live_add_command(w.job, w.created_ms));
        } else if constexpr (std::is_same_v<T, RemoveLive>) {
          out.push_back(jobs_.live_remove_command(w.job));
        } else if constexpr (std::is_same_v<T, SetJob>) {
          out.push_back(set_job_command(jobs_, w));
        } else if constexpr (std::is_same_v<T, AppendTokens>) {
          kind = Kind::kTokens;
          log_.append_commands(w.entries, out);
          n_appends = out.size() - before;
        } else if constexpr (std::is_same_v<T, FinishLog>) {
          kind = Kind::kLogMarker;
          n_appends = log_.finish_commands(w.job, w.state, w.n_tokens, out, w.tokens);
        } else if constexpr (std::is_same_v<T, DeadLetter>) {
          out.push_back(jobs_.dead_letter_command(w.job));
        } else if constexpr (std::is_same_v<T, DiscardJob>) {
          out.push_back(jobs_.discard_command(w.job, w.idempotency_key));
        } else if constexpr (std::is_same_v<T, AckIngest>) {
          out.push_back(ingest_.ack_command(w.entry));
        } else if constexpr (std::is_same_v<T, ExpireJob>) {
          out.push_back(jobs_.expire_command(w.job, w.ttl_s));
        } else if constexpr (std::is_same_v<T, AppendBatchResult>) {
          out.push_back(results_.append_command(store::BatchResult{
              .batch = w.batch, .item_id = w.item_id, .text = std::move(w.text),
              .record = std::move(w.record)}));
        }
      },
      write);
  layout.writes.push_back({.kind = kind, .n_commands = static_cast<uint32_t>(out.size() - before),
                           .n_appends = static_cast<uint32_t>(n_appends), .job = std::move(job)});
}

BatchReplies StoreCommands::parse(const StoreLayout& layout,
                                  const std::vector<store::RedisReply>& replies) {
  BatchReplies out;
  out.writes.resize(layout.writes.size());
  out.reads.resize(layout.reads.size());
  size_t at = 0;
  auto take = [&](uint32_t n) {
    std::span<const store::RedisReply> got;
    if (at + n <= replies.size()) got = std::span(replies).subspan(at, n);
    at += n;
    return got;
  };
  for (size_t i = 0; i < layout.writes.size(); ++i) {
    const StoreLayout::Part& part = layout.writes[i];
    std::span<const store::RedisReply> r = take(part.n_commands);
    WriteResult& result = out.writes[i];
    if (r.size() != part.n_commands) {
      result.status = io_error("no reply from redis");
      continue;
    }
    if (part.kind == Kind::kCreate) {
      auto created = store::JobStore::parse_create_reply(r[0], part.job);
      if (created.ok()) result.create = CreateOutcome{created->job_id, created->created};
      else result.status = created.status();
      continue;
    }
    // A token group or final marker Redis refuses as already there was applied before (a
    // retried batch): success; the marker's EXPIRE, if any, is checked as any other.
    const size_t n_appends = std::min<size_t>(part.n_appends, r.size());
    if (n_appends != 0) {
      auto stats = store::TokenLog::parse_append_replies(r.first(n_appends));
      if (!stats.ok()) result.status = stats.status();
      else if (part.kind == Kind::kTokens) result.duplicates = stats->duplicates;
    }
    for (size_t c = n_appends; c < r.size(); ++c) {
      if (r[c].is_error()) result.status = internal_error(r[c].str);
    }
  }
  for (size_t i = 0; i < layout.reads.size(); ++i) {
    const StoreLayout::Part& part = layout.reads[i];
    std::span<const store::RedisReply> r = take(1);
    ReadResult& result = out.reads[i];
    if (r.empty()) {
      result.record = io_error("no reply from redis");
      result.log = io_error("no reply from redis");
      continue;
    }
    if (part.kind == Kind::kLoadRecord) {
      result.record = store::JobStore::parse_load_reply(r[0], part.job);
      continue;
    }
    auto log = store::TokenLog::parse_read_reply(r[0], part.job, part.from_seq);
    if (!log.ok()) {
      result.log = log.status();
      continue;
    }
    result.log = LogRead{.entries = std::move(log->entries), .finished = log->finished,
                         .final_state = log->final_state, .n_tokens = log->n_tokens};
  }
  return out;
}

}  // namespace rs::broker
