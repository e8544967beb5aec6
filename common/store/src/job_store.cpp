#include "rs/store/job_store.h"

#include "field_text.h"
#include "rs/schemas/codec.h"

namespace rs::store {
namespace {

using schemas::JobState;

// KEYS: job hash, idempotency key. ARGV: job id, idempotency ttl (s, 0 = none), fields...
// Removes a job refused after its create was staged (KEYS: job hash, live index,
// idempotency key or ""; ARGV: job id). Idempotent.
constexpr const char* kDiscardScript = R"lua(
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if KEYS[3] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
)lua";

// Dead-letters a job once, however often the write is applied (KEYS: list; ARGV: job id).
constexpr const char* kDeadLetterScript = R"lua(
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
return redis.call('LPUSH', KEYS[1], ARGV[1])
)lua";

// A create applied again (its batch resent after its reply was lost) finds the key naming
// its own job: it is that job, created (not a resubmission of it).
constexpr const char* kCreateScript = R"lua(
local ok
if tonumber(ARGV[2]) > 0 then
  ok = redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2])
else
  ok = redis.call('SET', KEYS[2], ARGV[1], 'NX')
end
if not ok then
  local first = redis.call('GET', KEYS[2])
  if first == ARGV[1] then return {1, first} end
  return {0, first}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return {1, ARGV[1]}
)lua";

// The create script plus an XACK of the ingest entry the job comes from, whether the job
// is new or existed (atomic: the entry is acked only once its job is stored).
// KEYS: job hash, idempotency key, ingest stream. ARGV: job id, ttl, group, entry id, fields...
constexpr const char* kCreateAckScript = R"lua(
local ok
if tonumber(ARGV[2]) > 0 then
  ok = redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2])
else
  ok = redis.call('SET', KEYS[2], ARGV[1], 'NX')
end
if not ok then
  local first = redis.call('GET', KEYS[2])
  redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
  if first == ARGV[1] then return {1, first} end
  return {0, first}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
return {1, ARGV[1]}
)lua";

// KEYS: job hash. ARGV: allowed from-states "A,B", fence attempt ('' = none),
// ttl (s, 0 = none), fields... Returns {code, current state, current attempt}:
// 1 ok, -1 not found, -2 illegal transition, -3 stale attempt.
constexpr const char* kTransitionScript = R"lua(
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {-1, '', ''} end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do if s == cur then allowed = true end end
local att = redis.call('HGET', KEYS[1], 'attempt') or ''
if not allowed then return {-2, cur, att} end
if ARGV[2] ~= '' and att ~= ARGV[2] then return {-3, cur, att} end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {1, cur, att}
)lua";

const char* allowed_from(JobState to) {
  switch (to) {
    case JobState::kQueued: return "DISPATCHED,RUNNING";
    case JobState::kDispatched: return "QUEUED";
    case JobState::kRunning: return "DISPATCHED";
    case JobState::kSucceeded: return "DISPATCHED,RUNNING";
    case JobState::kFailed:
    case JobState::kCancelled: return "QUEUED,DISPATCHED,RUNNING";
  }
  return "";
}

// Room for a create's arguments (command and keys, ~10 set fields, the request, extras)
// without growing the vector.
constexpr size_t kCreateArgsReserve = 40;

void add(RedisCommand& c, std::string f, std::string v) {
  c.push_back(std::move(f));
  c.push_back(std::move(v));
}

void add(HashFields& h, std::string f, std::string v) { h.emplace_back(std::move(f), std::move(v)); }

template <class Out>
void add_usage_fields(Out& c, const schemas::Usage& u) {
  add(c, "prompt_tokens", std::to_string(u.prompt_tokens));
  add(c, "completion_tokens", std::to_string(u.completion_tokens));
  add(c, "queue_ms", detail::num(u.queue_ms));
  add(c, "ttft_ms", detail::num(u.ttft_ms));
  add(c, "decode_tps", detail::num(u.decode_tps));
}

// Into HashFields (transition_fields) or straight into a command's arguments.
template <class Out>
void add_transition_fields(Out& c, const Transition& t) {
  add(c, "state", std::string(schemas::job_state_name(t.to)));
  switch (t.to) {
    case JobState::kQueued: break;
    case JobState::kDispatched:
      add(c, "attempt", std::to_string(t.attempt));
      add(c, "worker", t.worker);
      add(c, "device", std::to_string(t.device));
      add(c, "dispatched_ms", std::to_string(t.at_ms));
      break;
    case JobState::kRunning: add(c, "started_ms", std::to_string(t.at_ms)); break;
    default: {
      add(c, "finished_ms", std::to_string(t.at_ms));
      if (t.usage) add_usage_fields(c, *t.usage);
      add(c, "error_code", std::string(schemas::error_code_name(t.error_code)));
      add(c, "error", t.error);
      add(c, "finish_reason", t.finish_reason);
    }
  }
}

}  // namespace

JobStore::JobStore(RedisConnection& conn, JobStoreOptions options)
    : conn_(conn), options_(std::move(options)) {}

RedisCommand JobStore::create_command(const schemas::JobRecord& record,
                                      const schemas::SubmitRequest& request) const {
  RedisCommand c;
  c.reserve(kCreateArgsReserve);
  if (request.idempotency_key.empty()) {
    c.emplace_back("HSET");
    c.push_back(options_.keys.job(record.job_id));
  } else {
    c.emplace_back("EVAL");
    c.emplace_back(kCreateScript);
    c.emplace_back("2");
    c.push_back(options_.keys.job(record.job_id));
    c.push_back(options_.keys.idempotency(request.idempotency_key));
    c.push_back(record.job_id);
    c.push_back(std::to_string(options_.idempotency_ttl_s));
  }
  // Only the fields that differ from a default record (load() fills in the defaults):
  // a new job is mostly defaults, and fewer arguments make creation ~faster.
  append_record_fields(record, c);
  c.emplace_back("request");
  c.push_back(schemas::encode(request));
  return c;
}

RedisCommand JobStore::create_command(const schemas::JobRecord& record, const schemas::SubmitRequest& request,
                                      const CreateExtras& extras) const {
  RedisCommand c = create_command(record, request);
  for (const auto& [f, v] : extras.fields) add(c, f, v);
  if (extras.ack_stream.empty() || c.front() != "EVAL") return c;
  // {"EVAL", script, "2", job, idem, id, ttl, fields...} -> the create-and-ack script.
  RedisCommand out{"EVAL", kCreateAckScript, "3", c[3], c[4], extras.ack_stream, c[5], c[6],
                   extras.ack_group, extras.ack_entry};
  out.insert(out.end(), std::make_move_iterator(c.begin() + 7), std::make_move_iterator(c.end()));
  return out;
}

Result<CreateResult> JobStore::parse_create_reply(const RedisReply& reply, std::string_view job_id) {
  RS_RETURN_IF_ERROR(reply.error_status("create job " + std::string(job_id)));
  if (reply.is_integer()) return CreateResult{std::string(job_id), true};  // plain HSET
  if (reply.is_array() && reply.elements.size() == 2 && reply.elements[0].is_integer() &&
      reply.elements[1].is_string()) {
    return CreateResult{reply.elements[1].str, reply.elements[0].integer == 1};
  }
  return internal_error("create job: unexpected reply from redis");
}

HashFields JobStore::transition_fields(const Transition& t) {
  HashFields h;
  add_transition_fields(h, t);
  return h;
}

void JobStore::append_transition_fields(const Transition& t, RedisCommand& command) {
  add_transition_fields(command, t);
}

RedisCommand JobStore::begin_set_fields(std::string_view job_id, size_t n_fields) const {
  RedisCommand c;
  c.reserve(2 + 2 * n_fields);
  c.emplace_back("HSET");
  c.push_back(options_.keys.job(job_id));
  return c;
}

RedisCommand JobStore::set_fields_command(std::string_view job_id, const HashFields& fields) const {
  RedisCommand c;
  c.reserve(2 + 2 * fields.size());
  c.push_back("HSET");
  c.push_back(options_.keys.job(job_id));
  for (const auto& [f, v] : fields) add(c, f, v);
  return c;
}

RedisCommand JobStore::transition_command(std::string_view job_id, const Transition& t) const {
  if (!options_.checked_transitions) return set_fields_command(job_id, transition_fields(t));
  bool fence = t.attempt != 0 && t.to != JobState::kDispatched;
  int64_t ttl = schemas::is_terminal(t.to) ? options_.finished_ttl_s : 0;
  RedisCommand c{"EVAL", kTransitionScript, "1", options_.keys.job(job_id), allowed_from(t.to),
                 fence ? std::to_string(t.attempt) : std::string(), std::to_string(ttl)};
  for (auto& [f, v] : transition_fields(t)) add(c, std::move(f), std::move(v));
  return c;
}

Status JobStore::parse_transition_reply(const RedisReply& reply, std::string_view job_id, JobState to) {
  std::string what = "job " + std::string(job_id) + " -> " + std::string(schemas::job_state_name(to));
  RS_RETURN_IF_ERROR(reply.error_status(what));
  if (reply.is_integer()) return {};  // unchecked transition (plain HSET)
  if (!reply.is_array() || reply.elements.size() != 3 || !reply.elements[0].is_integer()) {
    return internal_error(what + ": unexpected reply from redis");
  }
  const std::string& cur = reply.elements[1].str;
  switch (reply.elements[0].integer) {
    case 1: return {};
    case -1: return not_found(what + ": no such job");
    case -2: return invalid_argument(what + ": illegal transition from " + cur);
    case -3: return {StatusCode::kCancelled, what + ": stale attempt (current " + reply.elements[2].str + ")"};
    default: return internal_error(what + ": unexpected code");
  }
}

RedisCommand JobStore::dead_letter_command(std::string_view job_id) const {
  return {"EVAL", kDeadLetterScript, "1", options_.keys.dead_letter(), std::string(job_id)};
}

RedisCommand JobStore::discard_command(std::string_view job_id, std::string_view idempotency_key) const {
  return {"EVAL", kDiscardScript, "3", options_.keys.job(job_id), options_.keys.live(),
          idempotency_key.empty() ? std::string() : options_.keys.idempotency(idempotency_key),
          std::string(job_id)};
}

Result<CreateResult> JobStore::create(const schemas::JobRecord& record, const schemas::SubmitRequest& request) {
  RS_ASSIGN_OR_RETURN(std::vector<RedisReply> replies,
                      conn_.pipeline({live_add_command(record.job_id, record.created_ms),
                                      create_command(record, request)}));
  RS_RETURN_IF_ERROR(replies[0].error_status("live index"));
  RS_ASSIGN_OR_RETURN(CreateResult created, parse_create_reply(replies[1], record.job_id));
  if (!created.created) {  // a resubmission: the new id never became a job
    RS_ASSIGN_OR_RETURN(RedisReply r, conn_.command(live_remove_command(record.job_id)));
    RS_RETURN_IF_ERROR(r.error_status("live index"));
  }
  return created;
}

Status JobStore::transition(std::string_view job_id, const Transition& t) {
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(transition_command(job_id, t)));
  RS_RETURN_IF_ERROR(parse_transition_reply(reply, job_id, t.to));
  if (!schemas::is_terminal(t.to)) return Status();
  RS_ASSIGN_OR_RETURN(RedisReply removed, conn_.command(live_remove_command(job_id)));
  return removed.error_status("live index");
}

RedisCommand JobStore::live_add_command(std::string_view job_id, uint64_t created_ms) const {
  return make_command("ZADD", options_.keys.live(), std::to_string(created_ms), job_id);
}

RedisCommand JobStore::expire_command(std::string_view job_id, int64_t ttl_s) const {
  return make_command("EXPIRE", options_.keys.job(job_id), std::to_string(ttl_s));
}

RedisCommand JobStore::live_remove_command(std::string_view job_id) const {
  return make_command("ZREM", options_.keys.live(), job_id);
}

Result<schemas::JobRecord> JobStore::load(std::string_view job_id) {
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(load_command(job_id)));
  return parse_load_reply(reply, job_id);
}

RedisCommand JobStore::load_command(std::string_view job_id) const {
  return {"HGETALL", options_.keys.job(job_id)};
}

Result<schemas::JobRecord> JobStore::parse_load_reply(const RedisReply& reply, std::string_view job_id) {
  RS_RETURN_IF_ERROR(reply.error_status("load job"));
  if (!reply.is_array() || reply.elements.size() % 2 != 0) return internal_error("load job: unexpected reply");
  if (reply.elements.empty()) return not_found("job " + std::string(job_id) + " not found");
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(reply.elements.size() / 2);
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    fields.emplace_back(reply.elements[i].str, reply.elements[i + 1].str);
  }
  return job_from_fields(fields);
}

Result<schemas::SubmitRequest> JobStore::load_request(std::string_view job_id) {
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command({"HGET", options_.keys.job(job_id), "request"}));
  RS_RETURN_IF_ERROR(reply.error_status("load request"));
  if (reply.is_nil()) return not_found("job " + std::string(job_id) + " has no request");
  auto r = schemas::decode<schemas::SubmitRequest>(reply.str);
  if (!r.ok()) return corrupt("job " + std::string(job_id) + " request: " + r.status().message());
  return r;
}

Result<std::optional<std::string>> JobStore::find_idempotent(std::string_view key) {
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command({"GET", options_.keys.idempotency(key)}));
  RS_RETURN_IF_ERROR(reply.error_status("idempotency lookup"));
  if (reply.is_nil()) return std::optional<std::string>();
  return std::optional<std::string>(reply.str);
}

Status JobStore::push_dead_letter(std::string_view job_id) {
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command(dead_letter_command(job_id)));
  return reply.error_status("dead letter");
}

Result<std::vector<std::string>> JobStore::dead_letters(int64_t start, int64_t stop) {
  RS_ASSIGN_OR_RETURN(RedisReply reply, conn_.command({"LRANGE", options_.keys.dead_letter(),
                                                       std::to_string(start), std::to_string(stop)}));
  RS_RETURN_IF_ERROR(reply.error_status("dead letters"));
  std::vector<std::string> out;
  for (const RedisReply& e : reply.elements) out.push_back(e.str);
  return out;
}

}  // namespace rs::store
