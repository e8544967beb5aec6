#include "rs/store/batch_streams.h"

#include <exception>
#include <string>

namespace rs::store {
namespace {

bool is_busygroup(const RedisReply& r) { return r.is_error() && r.str.rfind("BUSYGROUP", 0) == 0; }

Status create_group(RedisConnection& conn, const std::string& key, std::string_view group) {
  RS_ASSIGN_OR_RETURN(RedisReply r, conn.command({"XGROUP", "CREATE", key, std::string(group), "0", "MKSTREAM"}));
  if (is_busygroup(r)) return {};  // exists already: idempotent
  return r.error_status("XGROUP CREATE " + key);
}

// [id, [f, v, ...]] -> IngestEntry. false for an entry deleted meanwhile (nil fields).
Result<bool> parse_entry(const RedisReply& e, IngestEntry& out) {
  if (!e.is_array() || e.elements.size() != 2 || !e.elements[0].is_string()) {
    return internal_error("stream entry: unexpected shape");
  }
  out.entry_id = e.elements[0].str;
  out.fields.clear();
  const RedisReply& kv = e.elements[1];
  if (kv.is_nil()) return false;
  if (!kv.is_array()) return internal_error("stream entry " + out.entry_id + ": fields not an array");
  out.fields.reserve(kv.elements.size() / 2);
  for (size_t i = 0; i + 1 < kv.elements.size(); i += 2) {
    out.fields.emplace_back(kv.elements[i].str, kv.elements[i + 1].str);
  }
  return true;
}

Status parse_entries(const RedisReply& list, std::vector<IngestEntry>& out) {
  if (list.is_nil()) return {};
  if (!list.is_array()) return internal_error("stream entries: not an array");
  for (const RedisReply& e : list.elements) {
    IngestEntry entry;
    RS_ASSIGN_OR_RETURN(bool present, parse_entry(e, entry));
    if (present) out.push_back(std::move(entry));
  }
  return {};
}

// XREADGROUP reply: nil (nothing) or [[key, [entries...]]].
Result<std::vector<IngestEntry>> parse_xreadgroup(const RedisReply& r, std::string_view what) {
  RS_RETURN_IF_ERROR(r.error_status(what));
  std::vector<IngestEntry> out;
  if (r.is_nil()) return out;
  if (!r.is_array()) return internal_error(std::string(what) + ": unexpected reply");
  for (const RedisReply& stream : r.elements) {
    if (!stream.is_array() || stream.elements.size() != 2) {
      return internal_error(std::string(what) + ": unexpected stream shape");
    }
    RS_RETURN_IF_ERROR(parse_entries(stream.elements[1], out));
  }
  return out;
}

Result<uint64_t> integer_reply(RedisConnection& conn, const RedisCommand& cmd) {
  RS_ASSIGN_OR_RETURN(RedisReply r, conn.command(cmd));
  RS_RETURN_IF_ERROR(r.error_status(cmd[0]));
  if (!r.is_integer()) return internal_error(cmd[0] + ": not an integer reply");
  return static_cast<uint64_t>(r.integer);
}

RedisCommand xadd(std::string key, const StreamFields& fields) {
  RedisCommand cmd{"XADD", std::move(key), "*"};
  cmd.reserve(3 + 2 * fields.size());
  for (const auto& [f, v] : fields) {
    cmd.push_back(f);
    cmd.push_back(v);
  }
  return cmd;
}

}  // namespace

// ---- IngestStream -------------------------------------------------------------------

IngestStream::IngestStream(RedisConnection& conn, IngestOptions options)
    : conn_(conn), options_(std::move(options)) {}

Result<std::string> IngestStream::append(const IngestItem& item) {
  RS_ASSIGN_OR_RETURN(RedisReply r, conn_.command(xadd(options_.keys.ingest(), ingest_to_fields(item))));
  RS_RETURN_IF_ERROR(r.error_status("ingest XADD"));
  if (!r.is_string()) return internal_error("ingest XADD: unexpected reply");
  return r.str;
}

Status IngestStream::ensure_group() { return create_group(conn_, options_.keys.ingest(), options_.group); }

Result<std::vector<IngestEntry>> IngestStream::read(size_t count) {
  RS_ASSIGN_OR_RETURN(RedisReply r,
                      conn_.command({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
                                     std::to_string(count == 0 ? 1 : count), "STREAMS", options_.keys.ingest(), ">"}));
  return parse_xreadgroup(r, "ingest XREADGROUP");
}

Result<std::vector<IngestEntry>> IngestStream::read_own_pending(std::string_view after_id, size_t count) {
  RS_ASSIGN_OR_RETURN(RedisReply r,
                      conn_.command({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
                                     std::to_string(count == 0 ? 1 : count), "STREAMS", options_.keys.ingest(),
                                     std::string(after_id)}));
  return parse_xreadgroup(r, "ingest pending XREADGROUP");
}

Result<std::vector<IngestEntry>> IngestStream::claim_stale(int64_t min_idle_ms, size_t count) {
  RS_ASSIGN_OR_RETURN(RedisReply r,
                      conn_.command({"XAUTOCLAIM", options_.keys.ingest(), options_.group, options_.consumer,
                                     std::to_string(min_idle_ms < 0 ? 0 : min_idle_ms), "0-0", "COUNT",
                                     std::to_string(count == 0 ? 1 : count)}));
  RS_RETURN_IF_ERROR(r.error_status("ingest XAUTOCLAIM"));
  // Redis 7: [cursor, entries, deleted ids]; 6.2: [cursor, entries] with nil entries.
  if (!r.is_array() || r.elements.size() < 2) return internal_error("ingest XAUTOCLAIM: unexpected reply");
  std::vector<IngestEntry> out;
  RS_RETURN_IF_ERROR(parse_entries(r.elements[1], out));
  return out;
}

RedisCommand IngestStream::ack_command(std::string_view entry_id) const {
  return {"XACK", options_.keys.ingest(), options_.group, std::string(entry_id)};
}

Result<uint64_t> IngestStream::length() { return integer_reply(conn_, {"XLEN", options_.keys.ingest()}); }

Result<uint64_t> IngestStream::pending() {
  RS_ASSIGN_OR_RETURN(RedisReply r, conn_.command({"XPENDING", options_.keys.ingest(), options_.group}));
  if (r.is_error() && r.str.rfind("NOGROUP", 0) == 0) return uint64_t{0};
  RS_RETURN_IF_ERROR(r.error_status("ingest XPENDING"));
  if (!r.is_array() || r.elements.empty() || !r.elements[0].is_integer()) {
    return internal_error("ingest XPENDING: unexpected reply");
  }
  return static_cast<uint64_t>(r.elements[0].integer);
}

namespace {

// The group's last delivered id from XINFO GROUPS (RESP2: flat name/value arrays).
std::string last_delivered(const RedisReply& groups, std::string_view group) {
  for (const RedisReply& g : groups.elements) {
    std::string name, last;
    for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
      if (g.elements[i].str == "name") name = g.elements[i + 1].str;
      if (g.elements[i].str == "last-delivered-id") last = g.elements[i + 1].str;
    }
    if (name == group) return last;
  }
  return {};
}

// The smallest stream id after `id` ("ms-seq" -> "ms-(seq+1)").
std::string next_id(const std::string& id) {
  const size_t dash = id.find('-');
  if (dash == std::string::npos) return {};
  try {
    return id.substr(0, dash) + "-" + std::to_string(std::stoull(id.substr(dash + 1)) + 1);
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

Result<uint64_t> IngestStream::trim_acknowledged() {
  const std::string key = options_.keys.ingest();
  RS_ASSIGN_OR_RETURN(RedisReply p, conn_.command({"XPENDING", key, options_.group}));
  RS_RETURN_IF_ERROR(p.error_status("ingest XPENDING"));
  if (!p.is_array() || p.elements.size() < 2 || !p.elements[0].is_integer()) {
    return internal_error("ingest XPENDING: unexpected reply");
  }
  std::string bound;
  if (p.elements[0].integer > 0) {
    bound = p.elements[1].str;  // the oldest entry not acknowledged stays
  } else {
    RS_ASSIGN_OR_RETURN(RedisReply g, conn_.command({"XINFO", "GROUPS", key}));
    RS_RETURN_IF_ERROR(g.error_status("ingest XINFO GROUPS"));
    bound = next_id(last_delivered(g, options_.group));
  }
  if (bound.empty() || bound == "0-0" || bound == "0-1") return uint64_t{0};
  RS_ASSIGN_OR_RETURN(RedisReply t, conn_.command({"XTRIM", key, "MINID", bound}));
  RS_RETURN_IF_ERROR(t.error_status("ingest XTRIM"));
  return static_cast<uint64_t>(t.is_integer() ? t.integer : 0);
}

// ---- BatchResults -------------------------------------------------------------------

BatchResults::BatchResults(RedisConnection& conn, KeySpace keys) : conn_(conn), keys_(std::move(keys)) {}

RedisCommand BatchResults::append_command(const BatchResult& result) const {
  return xadd(keys_.batch_results(result.batch), result_to_fields(result));
}

Status BatchResults::ensure_group(std::string_view batch, std::string_view group) {
  return create_group(conn_, keys_.batch_results(batch), group);
}

namespace {
Result<std::vector<BatchResult>> to_results(std::string_view batch, std::vector<IngestEntry> entries) {
  std::vector<BatchResult> out;
  out.reserve(entries.size());
  for (IngestEntry& e : entries) {
    RS_ASSIGN_OR_RETURN(BatchResult r, result_from_fields(std::string(batch), std::move(e.entry_id), e.fields));
    out.push_back(std::move(r));
  }
  return out;
}
}  // namespace

Result<std::vector<BatchResult>> BatchResults::read(std::string_view batch, std::string_view group,
                                                    std::string_view consumer, size_t count, int64_t block_ms) {
  RedisCommand cmd{"XREADGROUP", "GROUP", std::string(group), std::string(consumer), "COUNT",
                   std::to_string(count == 0 ? 1 : count)};
  if (block_ms > 0) {
    cmd.push_back("BLOCK");
    cmd.push_back(std::to_string(block_ms));
  }
  cmd.insert(cmd.end(), {"STREAMS", keys_.batch_results(batch), ">"});
  RS_ASSIGN_OR_RETURN(RedisReply r, conn_.command(cmd));
  RS_ASSIGN_OR_RETURN(auto entries, parse_xreadgroup(r, "batch results XREADGROUP"));
  return to_results(batch, std::move(entries));
}

Result<std::vector<BatchResult>> BatchResults::read_pending(std::string_view batch, std::string_view group,
                                                            std::string_view consumer, size_t count) {
  RS_ASSIGN_OR_RETURN(RedisReply r,
                      conn_.command({"XREADGROUP", "GROUP", std::string(group), std::string(consumer), "COUNT",
                                     std::to_string(count == 0 ? 1 : count), "STREAMS",
                                     keys_.batch_results(batch), "0"}));
  RS_ASSIGN_OR_RETURN(auto entries, parse_xreadgroup(r, "batch results pending"));
  return to_results(batch, std::move(entries));
}

Status BatchResults::ack(std::string_view batch, std::string_view group, const std::vector<std::string>& entry_ids) {
  if (entry_ids.empty()) return {};
  RedisCommand cmd{"XACK", keys_.batch_results(batch), std::string(group)};
  cmd.insert(cmd.end(), entry_ids.begin(), entry_ids.end());
  RS_ASSIGN_OR_RETURN(RedisReply r, conn_.command(cmd));
  return r.error_status("batch results XACK");
}

Result<uint64_t> BatchResults::length(std::string_view batch) {
  return integer_reply(conn_, {"XLEN", keys_.batch_results(batch)});
}

}  // namespace rs::store
