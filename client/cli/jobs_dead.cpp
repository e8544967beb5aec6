// `ringserve jobs dead` (the dead-letter list with each job's model, error and attempts) and
// `ringserve jobs retry ID` (its stored request back through the ingest stream, with a new
// idempotency key and the same batch / item id; then off the list).
#include <algorithm>
#include <cstdio>

#include "batch_command.h"
#include "json_format.h"
#include "rs/store/batch_streams.h"
#include "rs/store/job_store.h"

namespace rs::cli {

namespace {

struct DeadJob {
  std::string job_id;
  std::optional<schemas::JobRecord> record;  // nullopt: the job hash is gone or unreadable
  std::string batch;
  std::string item_id;
};

// The job hash's `batch` and `item_id` ("" when not part of a batch).
Status load_batch_fields(store::RedisConnection& conn, const std::string& job_id, DeadJob& out) {
  store::KeySpace keys;
  RS_ASSIGN_OR_RETURN(auto r, conn.command({"HMGET", keys.job(job_id), "batch", "item_id"}));
  RS_RETURN_IF_ERROR(r.error_status("HMGET job"));
  if (r.is_array() && r.elements.size() == 2) {
    out.batch = r.elements[0].str;
    out.item_id = r.elements[1].str;
  }
  return Status();
}

Result<std::vector<DeadJob>> load_dead(store::RedisConnection& conn) {
  store::JobStore jobs(conn);
  RS_ASSIGN_OR_RETURN(auto ids, jobs.dead_letters());
  std::vector<DeadJob> out;
  for (auto& id : ids) {
    DeadJob d;
    d.job_id = std::move(id);
    auto rec = jobs.load(d.job_id);
    if (rec.ok()) {
      d.record = std::move(rec).value();
    } else if (rec.status().code() == StatusCode::kUnavailable) {
      return rec.status();
    }
    RS_RETURN_IF_ERROR(load_batch_fields(conn, d.job_id, d));
    out.push_back(std::move(d));
  }
  return out;
}

nlohmann::ordered_json dead_json(const DeadJob& d) {
  const schemas::JobRecord empty;
  const schemas::JobRecord& r = d.record ? *d.record : empty;
  return nlohmann::ordered_json{
      {"job", d.job_id},
      {"model", r.model},
      {"error", d.record ? r.error : std::string("job record missing")},
      {"error_code", std::string(schemas::error_code_name(r.error_code))},
      {"attempts", r.attempt},
      {"batch", d.batch},
      {"item_id", d.item_id},
      {"finished_ms", r.finished_ms}};
}

void print_dead(const std::vector<DeadJob>& dead, bool json) {
  if (json) {
    for (const auto& d : dead) {
      std::printf("%s\n", dead_json(d).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }
    return;
  }
  if (dead.empty()) {
    std::printf("no dead-lettered jobs\n");
    return;
  }
  std::vector<std::vector<std::string>> rows{{"JOB", "MODEL", "ATTEMPTS", "BATCH", "ITEM", "ERROR"}};
  for (const auto& d : dead) {
    auto j = dead_json(d);
    std::string error = j["error"].get<std::string>();
    if (d.record && d.record->error_code != schemas::ErrorCode::kOk) {
      error = j["error_code"].get<std::string>() + ": " + error;
    }
    rows.push_back({d.job_id, d.record ? d.record->model : "-", std::to_string(j["attempts"].get<uint32_t>()),
                    d.batch.empty() ? "-" : d.batch, d.item_id.empty() ? "-" : d.item_id, error});
  }
  std::fputs(aligned_table(rows).c_str(), stdout);
}

}  // namespace

int run_jobs_dead(const JobsDeadArgs& args) {
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(args.options.common, access.status());
  auto dead = load_dead((*access)->connection());
  if (!dead.ok()) return report_status(args.options.common, dead.status());
  print_dead(*dead, args.options.common.json);
  std::fflush(stdout);
  return kExitOk;
}

int run_jobs_retry(const JobsRetryArgs& args) {
  const CommonOptions& common = args.options.common;
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  store::RedisConnection& conn = (*access)->connection();
  store::JobStore jobs(conn);
  auto ids = jobs.dead_letters();
  if (!ids.ok()) return report_status(common, ids.status());
  if (std::find(ids->begin(), ids->end(), args.job_id) == ids->end()) {
    return report_error(common, "not_found", "job '" + args.job_id + "' is not on the dead-letter list");
  }
  auto request = jobs.load_request(args.job_id);
  if (!request.ok()) return report_status(common, request.status());
  DeadJob d;
  d.job_id = args.job_id;
  if (Status s = load_batch_fields(conn, args.job_id, d); !s.ok()) return report_status(common, s);
  store::IngestItem item;
  item.batch = d.batch;
  item.item_id = d.item_id;
  item.request = std::move(request).value();
  // Unique per dead job: retrying it twice (a crash before the LREM below) makes one job.
  item.request.idempotency_key = "retry:" + args.job_id;
  auto entry = store::IngestStream(conn).append(item);
  if (!entry.ok()) return report_status(common, entry.status());
  auto removed = conn.command({"LREM", store::KeySpace{}.dead_letter(), "0", args.job_id});
  if (!removed.ok()) return report_status(common, removed.status());
  if (Status s = removed->error_status("LREM dead letter"); !s.ok()) return report_status(common, s);
  if (common.json) {
    nlohmann::ordered_json j{{"job", args.job_id}, {"entry", *entry}, {"batch", d.batch}, {"item_id", d.item_id}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s\n", entry->c_str());
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace rs::cli
