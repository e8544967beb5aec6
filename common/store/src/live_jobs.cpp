// JobStore: reading back the live-job index (rs:live) when a broker starts.
#include <algorithm>

#include "rs/schemas/codec.h"
#include "rs/store/job_store.h"

namespace rs::store {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string field(const Fields& fields, std::string_view name) {
  for (const auto& [f, v] : fields) {
    if (f == name) return v;
  }
  return {};
}

Result<StoredJob> stored_job(const RedisReply& reply, std::string_view id) {
  RS_RETURN_IF_ERROR(reply.error_status("load job"));
  if (!reply.is_array() || reply.elements.size() % 2 != 0) return internal_error("unexpected reply");
  if (reply.elements.empty()) return not_found("job " + std::string(id) + " not found");
  Fields fields;
  fields.reserve(reply.elements.size() / 2);
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    fields.emplace_back(reply.elements[i].str, reply.elements[i + 1].str);
  }
  StoredJob job;
  RS_ASSIGN_OR_RETURN(job.record, job_from_fields(fields));
  auto request = schemas::decode<schemas::SubmitRequest>(field(fields, "request"));
  if (!request.ok()) return corrupt("job " + std::string(id) + " request: " + request.status().message());
  job.request = std::move(request).value();
  job.batch = field(fields, "batch");
  job.item_id = field(fields, "item_id");
  return job;
}

}  // namespace

Result<std::vector<StoredJob>> JobStore::load_live(std::vector<std::string>* skipped, size_t chunk) {
  RS_ASSIGN_OR_RETURN(RedisReply ids, conn_.command({"ZRANGE", options_.keys.live(), "0", "-1"}));
  RS_RETURN_IF_ERROR(ids.error_status("live index"));
  std::vector<StoredJob> out;
  std::vector<RedisCommand> removals;
  chunk = std::max<size_t>(1, chunk);
  for (size_t begin = 0; begin < ids.elements.size(); begin += chunk) {
    const size_t end = std::min(ids.elements.size(), begin + chunk);
    std::vector<RedisCommand> reads;
    for (size_t i = begin; i < end; ++i) reads.push_back({"HGETALL", options_.keys.job(ids.elements[i].str)});
    RS_ASSIGN_OR_RETURN(std::vector<RedisReply> replies, conn_.pipeline(reads));
    for (size_t i = begin; i < end; ++i) {
      const std::string& id = ids.elements[i].str;
      Result<StoredJob> job = stored_job(replies[i - begin], id);
      if (job.ok() && !schemas::is_terminal(job->record.state)) {
        out.push_back(std::move(job).value());
      } else if (job.ok() || job.status().code() == StatusCode::kNotFound) {
        removals.push_back(live_remove_command(id));  // ended, or never stored
      } else if (skipped != nullptr) {
        skipped->push_back(id + ": " + job.status().message());
      }
    }
  }
  if (!removals.empty()) RS_RETURN_IF_ERROR(conn_.pipeline(removals).status());
  return out;
}

}  // namespace rs::store
