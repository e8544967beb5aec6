#include "rs/store/token_log.h"

#include <algorithm>
#include <charconv>
#include <numeric>

#include "rs/schemas/codec.h"

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

// Splits "a b c" (decimal numbers separated by single spaces) into `out`.
template <class T>
bool parse_list(const std::string& s, std::vector<T>& out) {
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(' ', pos);
    if (end == std::string::npos) end = s.size();
    T v{};
    if (!parse_num(s.substr(pos, end - pos), v)) return false;
    out.push_back(v);
    pos = end + 1;
  }
  return true;
}

// A float as the shortest text that reads back as the same float.
void append_float(std::string& out, float x) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  out.append(buf, ec == std::errc() ? end : buf);
}

// An integer's decimal text appended (no temporary string).
template <class T>
void append_int(std::string& out, T x) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  out.append(buf, ec == std::errc() ? end : buf);
}

struct RawEntry {
  uint64_t seq = 0;
  uint32_t attempt = 0;
  std::string tokens, lens, text;
  std::string logprobs;  // absent in entries written before logprobs were stored: all 0
  std::string extras;    // msgpack TokenExtrasList; absent when no entry has alternatives
  bool final_marker = false;
  bool has_group = false;  // tokens are present (a final marker may carry the last group)
};

// Redis holds what the broker accepted: a prompt's logprobs may be larger than one frame.
schemas::Limits extras_limits() {
  schemas::Limits l;
  l.max_frame_bytes = 256u << 20;
  return l;
}

// The group's alternatives and prompt logprobs onto its entries [first, end) of `replay`.
Status attach_extras(const RawEntry& raw, TokenReplay& replay, size_t first) {
  if (raw.extras.empty()) return {};
  Result<schemas::TokenExtrasList> list = schemas::decode<schemas::TokenExtrasList>(raw.extras, extras_limits());
  if (!list.ok()) return corrupt("token stream entry for seq " + std::to_string(raw.seq) + ": " +
                                 list.status().to_string());
  for (schemas::TokenExtras& x : list->entries) {
    for (size_t i = first; i < replay.entries.size(); ++i) {
      if (replay.entries[i].seq != x.seq) continue;
      replay.entries[i].top = std::move(x.top);
      replay.entries[i].prompt = std::move(x.prompt);
      break;
    }
  }
  return {};
}

// A group entry's tokens into `replay`: seq, seq+1, ...; a seq at or below the last one
// delivered (an overlapping group) is skipped, so the first occurrence of a seq wins.
Status expand_group(const RawEntry& raw, std::string_view job_id, uint64_t from_seq,
                    TokenReplay& replay) {
  const size_t first = replay.entries.size();
  std::vector<int32_t> ids;
  std::vector<size_t> lens;
  std::vector<float> logprobs;
  if (!parse_list(raw.tokens, ids) || !parse_list(raw.lens, lens) || ids.size() != lens.size() ||
      (!raw.logprobs.empty() &&
       (!parse_list(raw.logprobs, logprobs) || logprobs.size() != ids.size()))) {
    return corrupt("token stream entry for seq " + std::to_string(raw.seq) + " is malformed");
  }
  size_t offset = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (offset + lens[i] > raw.text.size()) return corrupt("token stream entry text too short");
    uint64_t seq = raw.seq + i;
    bool seen = !replay.entries.empty() && seq <= replay.entries.back().seq;
    if (seq >= from_seq && !seen) {
      replay.entries.push_back(TokenEntry{std::string(job_id), raw.attempt, seq, ids[i],
                                          raw.text.substr(offset, lens[i]),
                                          logprobs.empty() ? 0.0f : logprobs[i], {}, {}});
    }
    offset += lens[i];
  }
  return attach_extras(raw, replay, first);
}

// One XRANGE element [id, [field, value, ...]] into `replay`.
Status parse_entry(const RedisReply& e, std::string_view job_id, uint64_t from_seq,
                   TokenReplay& replay) {
  if (!e.is_array() || e.elements.size() != 2 || !e.elements[1].is_array()) {
    return internal_error("token stream: unexpected entry shape");
  }
  const auto& kv = e.elements[1].elements;
  RawEntry raw;
  bool ok = true;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) {
    const std::string& f = kv[i].str;
    const std::string& v = kv[i + 1].str;
    if (f == "seq") ok = ok && parse_num(v, raw.seq);
    else if (f == "attempt") ok = ok && parse_num(v, raw.attempt);
    else if (f == "tokens") raw.tokens = v, raw.has_group = true;
    else if (f == "lens") raw.lens = v;
    else if (f == "text") raw.text = v;
    else if (f == "logprobs") raw.logprobs = v;
    else if (f == "logprob_extras") raw.extras = v;
    else if (f == "final") raw.final_marker = true;
    else if (f == "state") {
      auto s = schemas::parse_job_state(v);
      ok = ok && s.has_value();
      if (s) replay.final_state = *s;
    } else if (f == "n_tokens") ok = ok && parse_num(v, replay.n_tokens);
  }
  if (!ok) return corrupt("token stream entry " + e.elements[0].str + " has a bad field");
  if (raw.final_marker) {  // it may carry the job's last group of tokens
    replay.finished = true;
    return raw.has_group ? expand_group(raw, job_id, from_seq, replay) : Status();
  }
  return expand_group(raw, job_id, from_seq, replay);
}

// Splits entries into groups: runs of one job and attempt with consecutive seqs.
template <class F>
void for_each_group(const std::vector<TokenEntry>& entries, F&& f) {
  size_t begin = 0;
  for (size_t i = 1; i <= entries.size(); ++i) {
    bool cut = i == entries.size() || entries[i].job_id != entries[begin].job_id ||
               entries[i].attempt != entries[begin].attempt ||
               entries[i].seq != entries[i - 1].seq + 1;
    if (cut) {
      f(begin, i);
      begin = i;
    }
  }
}

RedisCommand range_command(const KeySpace& keys, std::string_view job_id, uint64_t from_seq,
                           size_t count) {
  return {"XRANGE", keys.tokens(job_id), std::to_string(from_seq), "+", "COUNT",
          std::to_string(count)};
}

// An XRANGE reply into `replay` (the tokens with seq >= from_seq).
Status parse_range(const RedisReply& reply, std::string_view job_id, uint64_t from_seq,
                   TokenReplay& replay) {
  RS_RETURN_IF_ERROR(reply.error_status("token read"));
  if (!reply.is_array()) return internal_error("token read: unexpected reply");
  replay.entries.reserve(reply.elements.size());
  for (const RedisReply& e : reply.elements) {
    RS_RETURN_IF_ERROR(parse_entry(e, job_id, from_seq, replay));
  }
  return {};
}

// One page of a job's log (read from seq prefix.tokens.size()) onto its prefix. Returns
// whether another page may follow: the page was full and the prefix grew, with no hole, no
// final marker and fewer than max_tokens tokens.
bool extend_prefix(const RedisReply& reply, std::string_view job_id, size_t page,
                   size_t max_tokens, TokenPrefix& prefix) {
  TokenReplay replay;
  prefix.status = parse_range(reply, job_id, prefix.tokens.size(), replay);
  if (!prefix.status.ok()) return false;
  for (TokenEntry& e : replay.entries) {
    if (e.seq != prefix.tokens.size() || prefix.tokens.size() >= max_tokens) return false;
    prefix.tokens.push_back(e.token);
    prefix.text += e.text;
  }
  return !replay.finished && !replay.entries.empty() && reply.elements.size() >= page &&
         prefix.tokens.size() < max_tokens;
}

}  // namespace

TokenLog::TokenLog(RedisConnection& conn, TokenLogOptions options) : conn_(conn), options_(std::move(options)) {}

namespace {

// One group's fields (entries [begin, end): one job and attempt, consecutive seqs) onto a
// command: seq, attempt, and the tokens, their text lengths, text and logprobs.
void add_group_fields(const std::vector<TokenEntry>& entries, size_t begin, size_t end,
                      RedisCommand& out) {
  std::string ids, lens, text, logprobs;
  ids.reserve(8 * (end - begin));
  lens.reserve(3 * (end - begin));
  logprobs.reserve(12 * (end - begin));
  for (size_t i = begin; i < end; ++i) {
    if (i != begin) {
      ids += ' ';
      lens += ' ';
      logprobs += ' ';
    }
    append_int(ids, entries[i].token);
    append_int(lens, entries[i].text.size());
    text += entries[i].text;
    append_float(logprobs, entries[i].logprob);
  }
  const TokenEntry& first = entries[begin];
  out.reserve(out.size() + 12);
  out.emplace_back("seq");
  out.push_back(std::to_string(first.seq));
  out.emplace_back("attempt");
  out.push_back(std::to_string(first.attempt));
  out.emplace_back("tokens");
  out.push_back(std::move(ids));
  out.emplace_back("lens");
  out.push_back(std::move(lens));
  out.emplace_back("text");
  out.push_back(std::move(text));
  out.emplace_back("logprobs");
  out.push_back(std::move(logprobs));
  schemas::TokenExtrasList extras;
  for (size_t i = begin; i < end; ++i) {
    if (entries[i].top.empty() && entries[i].prompt.empty()) continue;
    extras.entries.push_back({entries[i].seq, entries[i].top, entries[i].prompt});
  }
  if (!extras.entries.empty()) {
    out.emplace_back("logprob_extras");
    out.push_back(schemas::encode(extras));
  }
}

}  // namespace

void TokenLog::append_commands(const std::vector<TokenEntry>& entries, std::vector<RedisCommand>& out,
                               std::vector<size_t>* group_sizes) const {
  if (entries.empty()) return;
  for_each_group(entries, [&](size_t begin, size_t end) {
    // The id is the group's last seq: Redis refuses a group that brings nothing new.
    out.push_back(make_command("XADD", options_.keys.tokens(entries[begin].job_id),
                               std::to_string(entries[end - 1].seq) + "-1"));
    add_group_fields(entries, begin, end, out.back());
    if (group_sizes != nullptr) group_sizes->push_back(end - begin);
  });
}

Result<AppendStats> TokenLog::parse_append_replies(std::span<const RedisReply> replies,
                                                   std::span<const size_t> group_sizes) {
  AppendStats stats;
  for (size_t i = 0; i < replies.size(); ++i) {
    size_t n = i < group_sizes.size() ? group_sizes[i] : 1;
    if (is_duplicate_error(replies[i])) {
      stats.duplicates += n;
      continue;
    }
    RS_RETURN_IF_ERROR(replies[i].error_status("token append"));
    stats.appended += n;
  }
  return stats;
}

Result<AppendStats> TokenLog::append(const std::vector<TokenEntry>& entries) {
  std::vector<RedisCommand> commands;
  std::vector<size_t> sizes;
  append_commands(entries, commands, &sizes);
  if (commands.empty()) return AppendStats{};
  RS_ASSIGN_OR_RETURN(auto replies, conn_.pipeline(commands));
  return parse_append_replies(replies, sizes);
}

size_t TokenLog::finish_commands(std::string_view job_id, schemas::JobState state, uint64_t n_tokens,
                                 std::vector<RedisCommand>& out,
                                 const std::vector<TokenEntry>& last) const {
  const size_t before = out.size();
  size_t n_groups = 0;
  for_each_group(last, [&](size_t, size_t) { ++n_groups; });
  const bool carried = n_groups == 1 && last.back().seq + 1 == n_tokens;
  if (!carried) append_commands(last, out);
  std::string key = options_.keys.tokens(job_id);
  out.push_back(make_command("XADD", key, kFinalId, "final", "1", "state",
                             schemas::job_state_name(state), "n_tokens", std::to_string(n_tokens)));
  if (carried) add_group_fields(last, 0, last.size(), out.back());
  const size_t appends = out.size() - before;
  if (options_.finished_ttl_s > 0) {
    out.push_back(make_command("EXPIRE", std::move(key), std::to_string(options_.finished_ttl_s)));
  }
  return appends;
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

RedisCommand TokenLog::read_command(std::string_view job_id, uint64_t from_seq,
                                   size_t max_entries) const {
  if (max_entries != 0) return range_command(options_.keys, job_id, from_seq, max_entries);
  return {"XRANGE", options_.keys.tokens(job_id), std::to_string(from_seq), "+"};
}

Result<TokenReplay> TokenLog::parse_read_reply(const RedisReply& reply, std::string_view job_id,
                                               uint64_t from_seq) {
  TokenReplay replay;
  RS_RETURN_IF_ERROR(parse_range(reply, job_id, from_seq, replay));
  return replay;
}

Result<TokenReplay> TokenLog::read(std::string_view job_id, uint64_t from_seq, size_t max_count) {
  if (max_count == 0) max_count = options_.max_read;
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(read_command(job_id, from_seq, max_count)));
  RS_ASSIGN_OR_RETURN(TokenReplay replay, parse_read_reply(reply, job_id, from_seq));
  if (replay.entries.size() > max_count) {  // groups hold several tokens: cut to the page
    replay.entries.resize(max_count);
    replay.finished = false;
  }
  return replay;
}

std::vector<TokenPrefix> TokenLog::read_prefixes(std::span<const std::string> job_ids,
                                                 size_t max_tokens, size_t chunk,
                                                 size_t* round_trips) {
  std::vector<TokenPrefix> out(job_ids.size());
  std::vector<size_t> todo(job_ids.size());  // indexes of the jobs with a page to read
  std::iota(todo.begin(), todo.end(), size_t{0});
  chunk = std::max<size_t>(1, chunk);
  const size_t page = std::max<size_t>(1, options_.max_read);
  while (!todo.empty()) {
    std::vector<size_t> more;
    for (size_t begin = 0; begin < todo.size(); begin += chunk) {
      const size_t end = std::min(todo.size(), begin + chunk);
      std::vector<RedisCommand> reads;
      reads.reserve(end - begin);
      for (size_t i = begin; i < end; ++i) {
        const TokenPrefix& p = out[todo[i]];
        reads.push_back(range_command(options_.keys, job_ids[todo[i]], p.tokens.size(), page));
      }
      if (round_trips != nullptr) ++*round_trips;
      Result<std::vector<RedisReply>> replies = conn_.pipeline(reads);
      if (!replies.ok()) {  // Redis fails: every read still to do stops here
        for (size_t i = begin; i < todo.size(); ++i) out[todo[i]].status = replies.status();
        for (size_t i : more) out[i].status = replies.status();
        return out;
      }
      for (size_t i = begin; i < end; ++i) {
        TokenPrefix& p = out[todo[i]];
        if (extend_prefix((*replies)[i - begin], job_ids[todo[i]], page, max_tokens, p)) {
          more.push_back(todo[i]);
        }
      }
    }
    todo = std::move(more);
  }
  return out;
}

}  // namespace rs::store
