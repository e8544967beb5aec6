#include "rs/store/model_registry.h"

#include "field_text.h"

#include <algorithm>
#include <charconv>

namespace rs::store {
namespace {

// Every script: KEYS = versions ZSET, epoch, active, history, next, names SET, canary HASH;
// ARGV = channel, name, version hash key prefix, version ('' for add), extra...
// Replies {code, version, epoch}: 1 changed, 0 nothing to do, -1 unknown name,
// -2 unknown version, -3 refused (version is active or the canary), -4 no previous active
// version, -5 canary refused (no active version yet, or it is the active one).
constexpr const char* kPrelude = R"lua(
local function bump(op, v)
  local e = redis.call('INCR', KEYS[2])
  redis.call('PUBLISH', ARGV[1], e .. ' ' .. ARGV[2] .. ' ' .. op .. ' ' .. v)
  return e
end
local function check_version()
  if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
  if not redis.call('ZSCORE', KEYS[1], ARGV[4]) then return -2 end
  return 1
end
)lua";

// ARGV[5..]: the record's fields.
constexpr const char* kAddScript = R"lua(
local v = redis.call('INCR', KEYS[5])
redis.call('HSET', ARGV[3] .. v, 'version', v, unpack(ARGV, 5))
redis.call('ZADD', KEYS[1], v, v)
redis.call('SADD', KEYS[6], ARGV[2])
return {1, v, bump('add', v)}
)lua";

// ARGV[5]: history limit; ARGV[6]: canary percent (0: activate fully, clearing any canary).
constexpr const char* kActivateScript = R"lua(
local c = check_version()
if c < 0 then return {c, 0, 0} end
local cur = redis.call('GET', KEYS[3])
local pct = tonumber(ARGV[6])
if pct > 0 then
  if (not cur) or cur == ARGV[4] then return {-5, 0, 0} end
  redis.call('HSET', KEYS[7], 'version', ARGV[4], 'percent', pct)
  return {1, tonumber(ARGV[4]), bump('canary', ARGV[4])}
end
local had_canary = redis.call('DEL', KEYS[7])
if cur == ARGV[4] then
  if had_canary == 0 then return {0, tonumber(cur), 0} end
  return {1, tonumber(cur), bump('activate', cur)}
end
if cur then
  redis.call('LPUSH', KEYS[4], cur)
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
end
redis.call('SET', KEYS[3], ARGV[4])
return {1, tonumber(ARGV[4]), bump('activate', ARGV[4])}
)lua";

// A canary is withdrawn first (the active version keeps serving everyone); otherwise pops
// the history until a version that still exists and is not the active one.
constexpr const char* kRollbackScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0, 0} end
local cur = redis.call('GET', KEYS[3])
if redis.call('DEL', KEYS[7]) == 1 and cur then
  return {1, tonumber(cur), bump('rollback', cur)}
end
while true do
  local p = redis.call('LPOP', KEYS[4])
  if not p then return {-4, 0, 0} end
  if p ~= cur and redis.call('ZSCORE', KEYS[1], p) then
    redis.call('SET', KEYS[3], p)
    return {1, tonumber(p), bump('rollback', p)}
  end
end
)lua";

constexpr const char* kRemoveScript = R"lua(
local c = check_version()
if c < 0 then return {c, 0, 0} end
if redis.call('GET', KEYS[3]) == ARGV[4] then return {-3, tonumber(ARGV[4]), 0} end
if redis.call('HGET', KEYS[7], 'version') == ARGV[4] then return {-3, tonumber(ARGV[4]), 0} end
redis.call('DEL', ARGV[3] .. ARGV[4])
redis.call('ZREM', KEYS[1], ARGV[4])
redis.call('LREM', KEYS[4], 0, ARGV[4])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[6], ARGV[2])
  redis.call('DEL', KEYS[4], KEYS[3], KEYS[7])
end
return {1, tonumber(ARGV[4]), bump('remove', ARGV[4])}
)lua";

// ARGV[5]: the error text.
constexpr const char* kSetErrorScript = R"lua(
local c = check_version()
if c < 0 then return {c, 0, 0} end
redis.call('HSET', ARGV[3] .. ARGV[4], 'error', ARGV[5])
return {1, tonumber(ARGV[4]), bump('error', ARGV[4])}
)lua";

std::string model_what(std::string_view name, uint32_t version) {
  std::string w = "model " + std::string(name);
  if (version != 0) w += " v" + std::to_string(version);
  return w;
}

std::vector<std::pair<std::string, std::string>> reply_fields(const RedisReply& reply) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    fields.emplace_back(reply.elements[i].str, reply.elements[i + 1].str);
  }
  return fields;
}

// Maps a script's {code, version, epoch} reply to a Status.
Result<uint32_t> script_result(const RedisReply& reply, std::string_view what) {
  RS_RETURN_IF_ERROR(reply.error_status(what));
  if (!reply.is_array() || reply.elements.size() != 3 || !reply.elements[0].is_integer() ||
      !reply.elements[1].is_integer()) {
    return internal_error(std::string(what) + ": unexpected reply from redis");
  }
  switch (reply.elements[0].integer) {
    case 1:
    case 0: return static_cast<uint32_t>(reply.elements[1].integer);
    case -1: return not_found(std::string(what) + ": no such model");
    case -2: return not_found(std::string(what) + ": no such version");
    case -3:
      return invalid_argument(std::string(what) +
                              ": refused, the version is active or the canary (activate or roll back first)");
    case -4: return invalid_argument(std::string(what) + ": no previous active version to roll back to");
    case -5:
      return invalid_argument(std::string(what) +
                              ": a canary needs another version already active (activate fully instead)");
    default: return internal_error(std::string(what) + ": unexpected code");
  }
}

}  // namespace

ModelRegistry::ModelRegistry(RedisConnection& conn, ModelRegistryOptions options)
    : conn_(conn), options_(std::move(options)) {}

Status ModelRegistry::check_name(std::string_view name) const {
  bool ok = !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '_' || c == '-';
            });
  if (ok) return {};
  return invalid_argument("model name '" + std::string(name) + "': want 1-128 of [A-Za-z0-9._-]");
}

Result<RedisReply> ModelRegistry::run(const RedisCommand& command, std::string_view what) {
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(command));
  RS_RETURN_IF_ERROR(reply.error_status(what));
  return reply;
}

namespace {
RedisCommand script_command(const KeySpace& k, const char* body, std::string_view name, std::string version) {
  std::string script = std::string(kPrelude) + body;
  return {"EVAL", std::move(script), "7", k.model(name, "versions"), k.models_epoch(), k.model(name, "active"),
          k.model(name, "history"), k.model(name, "next"), k.models_names(), k.model(name, "canary"),
          k.models_channel(),
          std::string(name), k.model(name, "v:"), std::move(version)};
}
}  // namespace

Result<uint32_t> ModelRegistry::add_version(const ModelVersion& record) {
  RS_RETURN_IF_ERROR(check_name(record.name));
  RedisCommand c = script_command(options_.keys, kAddScript, record.name, "");
  for (auto& [f, v] : model_to_fields(record)) {
    if (f == "version") continue;
    c.push_back(std::move(f));
    c.push_back(std::move(v));
  }
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(c));
  return script_result(reply, "add " + model_what(record.name, 0));
}

Status ModelRegistry::activate(std::string_view name, uint32_t version, uint32_t canary_percent) {
  RS_RETURN_IF_ERROR(check_name(name));
  if (canary_percent > 100) return invalid_argument("canary percent must be 0-100");
  if (canary_percent == 100) canary_percent = 0;
  RedisCommand c = script_command(options_.keys, kActivateScript, name, std::to_string(version));
  c.push_back(std::to_string(std::max<int64_t>(1, options_.history_limit)));
  c.push_back(std::to_string(canary_percent));
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(c));
  return script_result(reply, "activate " + model_what(name, version)).status();
}

Result<uint32_t> ModelRegistry::rollback(std::string_view name) {
  RS_RETURN_IF_ERROR(check_name(name));
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(script_command(options_.keys, kRollbackScript, name, "")));
  return script_result(reply, "rollback " + model_what(name, 0));
}

Status ModelRegistry::remove(std::string_view name, uint32_t version) {
  RS_RETURN_IF_ERROR(check_name(name));
  RS_ASSIGN_OR_RETURN(RedisReply reply,
                      conn_.command(script_command(options_.keys, kRemoveScript, name, std::to_string(version))));
  return script_result(reply, "remove " + model_what(name, version)).status();
}

Status ModelRegistry::set_error(std::string_view name, uint32_t version, std::string_view error) {
  RS_RETURN_IF_ERROR(check_name(name));
  RedisCommand c = script_command(options_.keys, kSetErrorScript, name, std::to_string(version));
  c.emplace_back(error);
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(c));
  return script_result(reply, "set error on " + model_what(name, version)).status();
}

Result<ModelRouting> ModelRegistry::routing(std::string_view name) {
  RS_RETURN_IF_ERROR(check_name(name));
  std::string what = "routing of " + model_what(name, 0);
  RS_ASSIGN_OR_RETURN(auto replies,
                      conn_.pipeline({{"EXISTS", options_.keys.model(name, "versions")},
                                      {"GET", options_.keys.model(name, "active")},
                                      {"HMGET", options_.keys.model(name, "canary"), "version", "percent"}}));
  for (const RedisReply& r : replies) RS_RETURN_IF_ERROR(r.error_status(what));
  if (replies[0].integer == 0) return not_found(model_what(name, 0) + ": no such model");
  ModelRouting out;
  out.name = std::string(name);
  bool ok = !replies[1].is_string() || detail::parse_num(replies[1].str, out.active);
  const auto& canary = replies[2].elements;
  if (canary.size() == 2 && canary[0].is_string() && canary[1].is_string()) {
    ok = ok && detail::parse_num(canary[0].str, out.canary) && detail::parse_num(canary[1].str, out.canary_percent);
  }
  if (!ok) return corrupt(what + ": bad active or canary version");
  return out;
}

Result<std::vector<ModelRouting>> ModelRegistry::routing_all() {
  RS_ASSIGN_OR_RETURN(RedisReply names, run({"SMEMBERS", options_.keys.models_names()}, "list models"));
  std::vector<ModelRouting> out;
  for (const RedisReply& n : names.elements) {
    auto r = routing(n.str);
    if (!r.ok() && r.status().code() == StatusCode::kNotFound) continue;  // removed meanwhile
    if (!r.ok()) return r.status();
    out.push_back(std::move(r).value());
  }
  std::sort(out.begin(), out.end(), [](const ModelRouting& a, const ModelRouting& b) { return a.name < b.name; });
  return out;
}

Result<ModelVersion> ModelRegistry::get(std::string_view name, uint32_t version) {
  RS_ASSIGN_OR_RETURN(ModelRouting routes, routing(name));
  std::string what = model_what(name, version);
  RS_ASSIGN_OR_RETURN(RedisReply r, run({"HGETALL", options_.keys.model(name, "v:" + std::to_string(version))}, what));
  if (r.elements.empty()) return not_found(what + ": no such version");
  RS_ASSIGN_OR_RETURN(ModelVersion m, model_from_fields(reply_fields(r)));
  routes.mark(m);
  return m;
}

Result<std::optional<ModelVersion>> ModelRegistry::active(std::string_view name) {
  RS_ASSIGN_OR_RETURN(ModelRouting routes, routing(name));
  if (routes.active == 0) return std::optional<ModelVersion>();
  RS_ASSIGN_OR_RETURN(ModelVersion m, get(name, routes.active));
  return std::optional<ModelVersion>(std::move(m));
}

Result<std::vector<ModelVersion>> ModelRegistry::list(std::string_view name) {
  RS_ASSIGN_OR_RETURN(ModelRouting routes, routing(name));
  std::string what = "list " + model_what(name, 0);
  RS_ASSIGN_OR_RETURN(RedisReply versions, run({"ZRANGE", options_.keys.model(name, "versions"), "0", "-1"}, what));
  std::vector<RedisCommand> gets;
  for (const RedisReply& v : versions.elements) gets.push_back({"HGETALL", options_.keys.model(name, "v:" + v.str)});
  std::vector<ModelVersion> out;
  if (gets.empty()) return out;
  RS_ASSIGN_OR_RETURN(auto records, conn_.pipeline(gets));
  for (const RedisReply& r : records) {
    RS_RETURN_IF_ERROR(r.error_status(what));
    if (r.elements.empty()) continue;  // removed between the round trips
    RS_ASSIGN_OR_RETURN(ModelVersion m, model_from_fields(reply_fields(r)));
    routes.mark(m);
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<ModelVersion>> ModelRegistry::list_all() {
  RS_ASSIGN_OR_RETURN(RedisReply names, run({"SMEMBERS", options_.keys.models_names()}, "list models"));
  std::vector<std::string> sorted;
  for (const RedisReply& n : names.elements) sorted.push_back(n.str);
  std::sort(sorted.begin(), sorted.end());
  std::vector<ModelVersion> out;
  for (const std::string& n : sorted) {
    auto versions = list(n);
    if (!versions.ok() && versions.status().code() == StatusCode::kNotFound) continue;  // removed meanwhile
    if (!versions.ok()) return versions.status();
    for (ModelVersion& m : *versions) out.push_back(std::move(m));
  }
  return out;
}

Result<uint64_t> ModelRegistry::epoch() {
  RS_ASSIGN_OR_RETURN(RedisReply reply, run({"GET", options_.keys.models_epoch()}, "registry epoch"));
  uint64_t e = 0;
  if (reply.is_nil()) return e;
  if (!detail::parse_num(reply.str, e)) return corrupt("registry epoch: not a number: " + reply.str);
  return e;
}

Result<ModelEvent> parse_model_event(std::string_view message) {
  std::vector<std::string_view> parts;
  while (!message.empty()) {
    size_t sp = message.find(' ');
    parts.push_back(message.substr(0, sp));
    message = sp == std::string_view::npos ? std::string_view() : message.substr(sp + 1);
  }
  ModelEvent ev;
  if (parts.size() != 4 || !detail::parse_num(parts[0], ev.epoch) || !detail::parse_num(parts[3], ev.version)) {
    return corrupt("model event: want '<epoch> <name> <op> <version>'");
  }
  ev.name = parts[1];
  ev.op = parts[2];
  return ev;
}

std::vector<std::pair<std::string, std::string>> model_to_fields(const ModelVersion& r) {
  return {{"name", r.name},
          {"version", std::to_string(r.version)},
          {"path", r.path},
          {"size_bytes", std::to_string(r.size_bytes)},
          {"sha256", r.sha256},
          {"architecture", r.architecture},
          {"tensor_type", r.tensor_type},
          {"created_ms", std::to_string(r.created_ms)},
          {"note", r.note},
          {"error", r.error},
          {"chat_template", r.chat_template},
          {"chat", r.chat}};
}

Result<ModelVersion> model_from_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  ModelVersion r;
  for (const auto& [f, v] : fields) {
    bool ok = true;
    if (f == "name") r.name = v;
    else if (f == "version") ok = detail::parse_num(v, r.version);
    else if (f == "path") r.path = v;
    else if (f == "size_bytes") ok = detail::parse_num(v, r.size_bytes);
    else if (f == "sha256") r.sha256 = v;
    else if (f == "architecture") r.architecture = v;
    else if (f == "tensor_type") r.tensor_type = v;
    else if (f == "created_ms") ok = detail::parse_num(v, r.created_ms);
    else if (f == "note") r.note = v;
    else if (f == "error") r.error = v;
    else if (f == "chat_template") r.chat_template = v;
    else if (f == "chat") r.chat = v;
    if (!ok) return corrupt("model record: bad " + f + " '" + v + "'");
  }
  if (r.name.empty() || r.version == 0) return corrupt("model record: missing name or version");
  return r;
}

}  // namespace rs::store
