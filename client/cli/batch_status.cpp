// `ringserve batch status BATCH`: the batch hash (total, input, output, created_ms), XLEN of
// its results, and succeeded / failed counted per item id (an item retried from the
// dead-letter list counts once, by its latest result).
#include <cstdio>
#include <unordered_map>

#include "batch_command.h"
#include "json_format.h"

namespace rs::cli {

namespace {

constexpr size_t kScanPage = 1000;

struct BatchCounts {
  uint64_t total = 0;
  uint64_t finished = 0;  // XLEN of the results stream
  uint64_t succeeded = 0;
  uint64_t failed = 0;    // FAILED or CANCELLED (latest result per id)
  std::string input, output;
  uint64_t created_ms = 0;
};

std::string field_of(const store::RedisReply& kv, std::string_view name) {
  for (size_t i = 0; i + 1 < kv.elements.size(); i += 2) {
    if (kv.elements[i].str == name) return kv.elements[i + 1].str;
  }
  return "";
}

// Latest state per item id, read with XRANGE pages (read-only: no group involved).
Status count_states(store::RedisConnection& conn, const std::string& key, BatchCounts& c) {
  std::unordered_map<std::string, bool> succeeded;  // id -> latest result SUCCEEDED
  std::string start = "-";
  for (;;) {
    RS_ASSIGN_OR_RETURN(auto r, conn.command({"XRANGE", key, start, "+", "COUNT", std::to_string(kScanPage)}));
    RS_RETURN_IF_ERROR(r.error_status("XRANGE " + key));
    if (!r.is_array() || r.elements.empty()) break;
    for (const auto& e : r.elements) {
      if (!e.is_array() || e.elements.size() != 2 || !e.elements[1].is_array()) continue;
      std::string id = field_of(e.elements[1], "id");
      succeeded[id] = field_of(e.elements[1], "state") == "SUCCEEDED";
    }
    start = "(" + r.elements.back().elements[0].str;
    if (r.elements.size() < kScanPage) break;
  }
  for (const auto& [id, ok] : succeeded) (ok ? c.succeeded : c.failed) += 1;
  return Status();
}

Result<BatchCounts> load_counts(store::RedisConnection& conn, const std::string& batch) {
  store::KeySpace keys;
  BatchCounts c;
  RS_ASSIGN_OR_RETURN(auto h, conn.command({"HGETALL", keys.batch(batch)}));
  RS_RETURN_IF_ERROR(h.error_status("HGETALL batch"));
  RS_ASSIGN_OR_RETURN(auto len, conn.command({"XLEN", keys.batch_results(batch)}));
  RS_RETURN_IF_ERROR(len.error_status("XLEN batch results"));
  c.finished = len.is_integer() ? static_cast<uint64_t>(len.integer) : 0;
  if (h.elements.empty() && c.finished == 0) return not_found("no batch '" + batch + "'");
  c.total = std::strtoull(field_of(h, "total").c_str(), nullptr, 10);
  c.created_ms = std::strtoull(field_of(h, "created_ms").c_str(), nullptr, 10);
  c.input = field_of(h, "input");
  c.output = field_of(h, "output");
  RS_RETURN_IF_ERROR(count_states(conn, keys.batch_results(batch), c));
  return c;
}

}  // namespace

int run_batch_status(const BatchStatusArgs& args) {
  const CommonOptions& common = args.options.common;
  if (!valid_batch_id(args.batch)) {
    return report_error(common, "invalid_argument", "bad batch id '" + args.batch + "'");
  }
  auto access = RegistryAccess::open(args.options);
  if (!access.ok()) return report_status(common, access.status());
  auto c = load_counts((*access)->connection(), args.batch);
  if (!c.ok()) return report_status(common, c.status());
  uint64_t items_done = c->succeeded + c->failed;
  uint64_t pending = c->total > items_done ? c->total - items_done : 0;
  if (common.json) {
    nlohmann::ordered_json j{{"batch", args.batch},       {"total", c->total},   {"finished", c->finished},
                             {"succeeded", c->succeeded}, {"failed", c->failed}, {"pending", pending},
                             {"created_ms", c->created_ms}, {"input", c->input}, {"output", c->output}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("batch %s: %llu total, %llu finished (%llu succeeded, %llu failed), %llu pending\n",
                args.batch.c_str(), static_cast<unsigned long long>(c->total),
                static_cast<unsigned long long>(c->finished), static_cast<unsigned long long>(c->succeeded),
                static_cast<unsigned long long>(c->failed), static_cast<unsigned long long>(pending));
    if (!c->input.empty()) std::printf("input %s\noutput %s\n", c->input.c_str(), c->output.c_str());
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace rs::cli
