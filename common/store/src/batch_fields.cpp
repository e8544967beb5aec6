// IngestItem and BatchResult <-> stream entry fields (docs/REDIS.md "Ingest stream" and
// "Batch results"). All values are text, so producers in any language can write them.
#include <charconv>

#include <nlohmann/json.hpp>

#include "field_text.h"
#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"

namespace rs::store {
namespace {

using detail::num;
using detail::parse_num;

using schemas::JobRecord;
using schemas::SubmitRequest;

bool parse_stop(const std::string& v, std::vector<std::string>& out) {
  if (v.empty()) return true;
  nlohmann::json j = nlohmann::json::parse(v, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return false;
  out.clear();
  for (const auto& s : j) {
    if (!s.is_string()) return false;
    out.push_back(s.get<std::string>());
  }
  return true;
}

std::string stop_json(const std::vector<std::string>& stop) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& s : stop) j.push_back(s);
  // Replace: a stop string that is not valid UTF-8 must not throw here.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One ingest field into `item`; false when the value does not parse.
bool set_ingest_field(IngestItem& item, const std::string& f, const std::string& v) {
  SubmitRequest& r = item.request;
  if (f == "batch") item.batch = v;
  else if (f == "id") item.item_id = v;
  else if (f == "model") r.model = v;
  else if (f == "prompt") r.prompt = v;
  else if (f == "max_tokens") return parse_num(v, r.max_tokens);
  else if (f == "temperature") return parse_num(v, r.sampling.temperature);
  else if (f == "top_k") return parse_num(v, r.sampling.top_k);
  else if (f == "top_p") return parse_num(v, r.sampling.top_p);
  else if (f == "min_p") return parse_num(v, r.sampling.min_p);
  else if (f == "repetition_penalty") return parse_num(v, r.sampling.repetition_penalty);
  else if (f == "seed") {
    uint64_t seed = 0;
    if (!parse_num(v, seed)) return false;
    r.sampling.seed = seed;
  }
  else if (f == "stop") return parse_stop(v, r.stop);
  else if (f == "priority") {
    auto p = schemas::parse_priority(v);
    if (p) r.priority = *p;
    return p.has_value();
  } else if (f == "idempotency_key") r.idempotency_key = v;
  else if (f == "session_id") r.session_id = v;
  else if (f == "affinity_key") r.affinity_key = v;
  // Unknown fields (from a newer producer) are ignored.
  return true;
}

}  // namespace

StreamFields ingest_to_fields(const IngestItem& item) {
  const SubmitRequest& r = item.request;
  StreamFields f;
  if (!item.batch.empty()) f.emplace_back("batch", item.batch);
  if (!item.item_id.empty()) f.emplace_back("id", item.item_id);
  f.emplace_back("model", r.model);
  f.emplace_back("prompt", r.prompt);
  f.emplace_back("max_tokens", std::to_string(r.max_tokens));
  f.emplace_back("temperature", num(r.sampling.temperature));
  f.emplace_back("top_k", std::to_string(r.sampling.top_k));
  f.emplace_back("top_p", num(r.sampling.top_p));
  f.emplace_back("min_p", num(r.sampling.min_p));
  f.emplace_back("repetition_penalty", num(r.sampling.repetition_penalty));
  if (r.sampling.seed) f.emplace_back("seed", std::to_string(*r.sampling.seed));
  if (!r.stop.empty()) f.emplace_back("stop", stop_json(r.stop));
  f.emplace_back("priority", std::string(schemas::priority_name(r.priority)));
  if (!r.idempotency_key.empty()) f.emplace_back("idempotency_key", r.idempotency_key);
  if (!r.session_id.empty()) f.emplace_back("session_id", r.session_id);
  if (!r.affinity_key.empty()) f.emplace_back("affinity_key", r.affinity_key);
  return f;
}

Result<IngestItem> ingest_from_fields(std::string entry_id, const StreamFields& fields) {
  IngestItem item;
  item.entry_id = std::move(entry_id);
  for (const auto& [f, v] : fields) {
    if (!set_ingest_field(item, f, v)) {
      return invalid_argument("ingest field '" + f + "' has a bad value '" + v + "'");
    }
  }
  // The values the item ends with (a repeated field's last one wins), not whether some
  // field once had one: ["model", "m", "model", ""] lacks a model.
  if (item.request.model.empty()) return invalid_argument("ingest entry lacks 'model'");
  if (item.request.prompt.empty()) return invalid_argument("ingest entry lacks 'prompt'");
  return item;
}

// The job's record as the job hash stores it (job_to_fields; result_from_fields reads it
// back with job_from_fields), after the item id and the whole text.
StreamFields result_to_fields(const BatchResult& result) {
  StreamFields out = {{"id", result.item_id}, {"text", result.text}};
  for (auto& field : job_to_fields(result.record)) out.push_back(std::move(field));
  return out;
}

Result<BatchResult> result_from_fields(std::string batch, std::string entry_id, const StreamFields& fields) {
  BatchResult out;
  out.batch = std::move(batch);
  out.entry_id = std::move(entry_id);
  // The record's fields are a subset of the job hash's: the same parser reads them.
  auto record = job_from_fields(fields);
  if (!record.ok()) return corrupt("batch result " + out.entry_id + ": " + record.status().message());
  out.record = std::move(record).value();
  for (const auto& [f, v] : fields) {
    if (f == "id") out.item_id = v;
    else if (f == "text") out.text = v;
  }
  return out;
}

}  // namespace rs::store
