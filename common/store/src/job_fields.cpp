// JobRecord <-> the fields of its Redis hash (human-readable values, docs/REDIS.md).
#include <charconv>
#include <cmath>
#include <cstdio>

#include "field_text.h"
#include "rs/schemas/codec.h"
#include "rs/store/job_store.h"

namespace rs::store {
namespace {

using detail::num;
using detail::parse_num;

using schemas::JobRecord;

Status bad_field(const std::string& name, const std::string& value) {
  return corrupt("job hash field '" + name + "' has a bad value '" + value + "'");
}

bool parse_flag(const std::string& v, bool& out) {
  if (v != "0" && v != "1") return false;
  out = v == "1";
  return true;
}

Status set_field(JobRecord& r, const std::string& f, const std::string& v) {
  bool ok = true;
  if (f == "job_id") r.job_id = v;
  else if (f == "state") { auto s = schemas::parse_job_state(v); ok = s.has_value(); if (ok) r.state = *s; }
  else if (f == "model") r.model = v;
  else if (f == "model_version") ok = parse_num(v, r.model_version);
  else if (f == "priority") { auto p = schemas::parse_priority(v); ok = p.has_value(); if (ok) r.priority = *p; }
  else if (f == "worker") r.worker = v;
  else if (f == "device") ok = parse_num(v, r.device);
  else if (f == "attempt") ok = parse_num(v, r.attempt);
  else if (f == "prompt_tokens") ok = parse_num(v, r.usage.prompt_tokens);
  else if (f == "completion_tokens") ok = parse_num(v, r.usage.completion_tokens);
  else if (f == "queue_ms") ok = parse_num(v, r.usage.queue_ms);
  else if (f == "ttft_ms") ok = parse_num(v, r.usage.ttft_ms);
  else if (f == "decode_tps") ok = parse_num(v, r.usage.decode_tps);
  else if (f == "error_code") r.error_code = schemas::parse_error_code(v).value_or(schemas::ErrorCode::kInternal);
  else if (f == "error") r.error = v;
  else if (f == "created_ms") ok = parse_num(v, r.created_ms);
  else if (f == "dispatched_ms") ok = parse_num(v, r.dispatched_ms);
  else if (f == "started_ms") ok = parse_num(v, r.started_ms);
  else if (f == "finished_ms") ok = parse_num(v, r.finished_ms);
  else if (f == "api_meta") r.api_meta = v;
  else if (f == "tenant") r.tenant = v;
  else if (f == "detach") ok = parse_flag(v, r.detach);
  else if (f == "finish_reason") r.finish_reason = v;
  // Unknown fields (e.g. "request", or fields from a newer version) are ignored.
  return ok ? Status() : bad_field(f, v);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> job_to_fields(const JobRecord& r) {
  return {
      {"job_id", r.job_id},
      {"state", std::string(schemas::job_state_name(r.state))},
      {"model", r.model},
      {"model_version", std::to_string(r.model_version)},
      {"priority", std::string(schemas::priority_name(r.priority))},
      {"worker", r.worker},
      {"device", std::to_string(r.device)},
      {"attempt", std::to_string(r.attempt)},
      {"prompt_tokens", std::to_string(r.usage.prompt_tokens)},
      {"completion_tokens", std::to_string(r.usage.completion_tokens)},
      {"queue_ms", num(r.usage.queue_ms)},
      {"ttft_ms", num(r.usage.ttft_ms)},
      {"decode_tps", num(r.usage.decode_tps)},
      {"error_code", std::string(schemas::error_code_name(r.error_code))},
      {"error", r.error},
      {"created_ms", std::to_string(r.created_ms)},
      {"dispatched_ms", std::to_string(r.dispatched_ms)},
      {"started_ms", std::to_string(r.started_ms)},
      {"finished_ms", std::to_string(r.finished_ms)},
      {"api_meta", r.api_meta},
      {"tenant", r.tenant},
      {"detach", r.detach ? "1" : "0"},
      {"finish_reason", r.finish_reason},
  };
}

namespace {

// The field if its text differs from a default record's (to_chars writes 0.0 as "0", and
// -0.0, NaN or any other value otherwise).
void add_if_set(RedisCommand& c, std::string_view f, const std::string& v) {
  if (v.empty()) return;
  c.emplace_back(f);
  c.push_back(v);
}
template <class T>
void add_if_set(RedisCommand& c, std::string_view f, T v, T default_value) {
  if (v == default_value) return;
  c.emplace_back(f);
  c.push_back(std::to_string(v));
}
void add_if_set(RedisCommand& c, std::string_view f, double v) {
  if (v == 0.0 && !std::signbit(v)) return;
  c.emplace_back(f);
  c.push_back(num(v));
}

}  // namespace

void append_record_fields(const JobRecord& r, RedisCommand& c) {
  static const JobRecord kDefault;
  c.emplace_back("job_id");
  c.push_back(r.job_id);
  c.emplace_back("state");
  c.emplace_back(schemas::job_state_name(r.state));
  add_if_set(c, "model", r.model);
  add_if_set(c, "model_version", r.model_version, kDefault.model_version);
  if (r.priority != kDefault.priority) {
    c.emplace_back("priority");
    c.emplace_back(schemas::priority_name(r.priority));
  }
  add_if_set(c, "worker", r.worker);
  add_if_set(c, "device", r.device, kDefault.device);
  add_if_set(c, "attempt", r.attempt, kDefault.attempt);
  add_if_set(c, "prompt_tokens", r.usage.prompt_tokens, kDefault.usage.prompt_tokens);
  add_if_set(c, "completion_tokens", r.usage.completion_tokens, kDefault.usage.completion_tokens);
  add_if_set(c, "queue_ms", r.usage.queue_ms);
  add_if_set(c, "ttft_ms", r.usage.ttft_ms);
  add_if_set(c, "decode_tps", r.usage.decode_tps);
  if (r.error_code != kDefault.error_code) {
    c.emplace_back("error_code");
    c.emplace_back(schemas::error_code_name(r.error_code));
  }
  add_if_set(c, "error", r.error);
  add_if_set(c, "created_ms", r.created_ms, kDefault.created_ms);
  add_if_set(c, "dispatched_ms", r.dispatched_ms, kDefault.dispatched_ms);
  add_if_set(c, "started_ms", r.started_ms, kDefault.started_ms);
  add_if_set(c, "finished_ms", r.finished_ms, kDefault.finished_ms);
  add_if_set(c, "api_meta", r.api_meta);
  add_if_set(c, "tenant", r.tenant);
  if (r.detach) {
    c.emplace_back("detach");
    c.emplace_back("1");
  }
  add_if_set(c, "finish_reason", r.finish_reason);
}

void usage_to_fields(const schemas::Usage& u, HashFields& out) {
  out.emplace_back("prompt_tokens", std::to_string(u.prompt_tokens));
  out.emplace_back("completion_tokens", std::to_string(u.completion_tokens));
  out.emplace_back("queue_ms", num(u.queue_ms));
  out.emplace_back("ttft_ms", num(u.ttft_ms));
  out.emplace_back("decode_tps", num(u.decode_tps));
}

Result<JobRecord> job_from_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  JobRecord r;
  bool has_state = false;
  for (const auto& [f, v] : fields) {
    RS_RETURN_IF_ERROR(set_field(r, f, v));
    has_state = has_state || f == "state";
  }
  if (!has_state || r.job_id.empty()) return corrupt("job hash lacks job_id or state");
  return r;
}

}  // namespace rs::store
