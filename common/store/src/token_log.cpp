#include "rs/store/token_log.h"

#include <charconv>

namespace rs::store {
namespace {

using schemas::TokenEntry;

// The final marker's stream id: the largest possible, so no token can follow it.
constexpr const char* kFinalId = "18446744073709551615-0";

template <class T>
bool parse_num(const std::string& s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool is_duplicate_error(const RedisReply& r) {
  return r.is_error() && r.str.find("equal or smaller") != std::string::npos;
}

// One XRANGE element [id, [field, value, ...]] into `replay`.
Status parse_entry(const RedisReply& e, std::string_view job_id, TokenReplay& replay) {
  if (!e.is_array() || e.elements.size() != 2 || !e.elements[1].is_array()) {
    return internal_error("token stream: unexpected entry shape");
  }
  const auto& kv = e.elements[1].elements;
  TokenEntry t;
  t.job_id = std::string(job_id);
  bool final_marker = false;
  bool ok = true;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) {
    const std::string& f = kv[i].str;
    const std::string& v = kv[i + 1].str;
    if (f == "seq") ok = ok && parse_num(v, t.seq);
    else if (f == "attempt") ok = ok && parse_num(v, t.attempt);
    else if (f == "token") ok = ok && parse_num(v, t.token);
    else if (f == "text") t.text = v;
    else if (f == "final") final_marker = true;
    else if (f == "state") {
      auto s = schemas::parse_job_state(v);
      ok = ok && s.has_value();
      if (s) replay.final_state = *s;
    } else if (f == "n_tokens") ok = ok && parse_num(v, replay.n_tokens);
  }
  if (!ok) return corrupt("token stream entry " + e.elements[0].str + " has a bad field");
  if (final_marker) {
    replay.finished = true;
  } else {
    replay.entries.push_back(std::move(t));
  }
  return {};
}

}  // namespace

TokenLog::TokenLog(RedisConnection& conn, TokenLogOptions options) : conn_(conn), options_(std::move(options)) {}

void TokenLog::append_commands(const std::vector<TokenEntry>& entries, std::vector<RedisCommand>& out) const {
  out.reserve(out.size() + entries.size());
  for (const TokenEntry& e : entries) {
    std::string seq = std::to_string(e.seq);
    out.push_back({"XADD", options_.keys.tokens(e.job_id), seq + "-1", "seq", seq, "attempt",
                   std::to_string(e.attempt), "token", std::to_string(e.token), "text", e.text});
  }
}

Result<AppendStats> TokenLog::parse_append_replies(std::span<const RedisReply> replies) {
  AppendStats stats;
  for (const RedisReply& r : replies) {
    if (is_duplicate_error(r)) {
      ++stats.duplicates;
      continue;
    }
    RS_RETURN_IF_ERROR(r.error_status("token append"));
    ++stats.appended;
  }
  return stats;
}

Result<AppendStats> TokenLog::append(const std::vector<TokenEntry>& entries) {
  std::vector<RedisCommand> commands;
  append_commands(entries, commands);
  RS_ASSIGN_OR_RETURN(auto replies, conn_.pipeline(commands));
  return parse_append_replies(replies);
}

void TokenLog::finish_commands(std::string_view job_id, schemas::JobState state, uint64_t n_tokens,
                               std::vector<RedisCommand>& out) const {
  std::string key = options_.keys.tokens(job_id);
  out.push_back({"XADD", key, kFinalId, "final", "1", "state", std::string(schemas::job_state_name(state)),
                 "n_tokens", std::to_string(n_tokens)});
  if (options_.finished_ttl_s > 0) out.push_back({"EXPIRE", key, std::to_string(options_.finished_ttl_s)});
}

Status TokenLog::finish(std::string_view job_id, schemas::JobState state, uint64_t n_tokens) {
  std::vector<RedisCommand> commands;
  finish_commands(job_id, state, n_tokens, commands);
  RS_ASSIGN_OR_RETURN(auto replies, conn_.pipeline(commands));
  // A second finish (already final) is harmless: the job ends exactly once.
  if (is_duplicate_error(replies[0])) return {};
  for (const RedisReply& r : replies) RS_RETURN_IF_ERROR(r.error_status("token log finish"));
  return {};
}

Result<TokenReplay> TokenLog::read(std::string_view job_id, uint64_t from_seq, size_t max_count) {
  if (max_count == 0) max_count = options_.max_read;
  RS_ASSIGN_OR_RETURN(RedisReply reply,
                      conn_.command({"XRANGE", options_.keys.tokens(job_id), std::to_string(from_seq), "+",
                                     "COUNT", std::to_string(max_count)}));
  RS_RETURN_IF_ERROR(reply.error_status("token read"));
  TokenReplay replay;
  if (!reply.is_array()) return internal_error("token read: unexpected reply");
  replay.entries.reserve(reply.elements.size());
  for (const RedisReply& e : reply.elements) RS_RETURN_IF_ERROR(parse_entry(e, job_id, replay));
  return replay;
}

}  // namespace rs::store
