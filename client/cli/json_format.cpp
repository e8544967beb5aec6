// JSON and human output of records, tokens and devices.
#include "json_format.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "rs/schemas/model_ref.h"

namespace rs::cli {

namespace {

std::string kv_cell(const schemas::DeviceStatus& d) {
  return fmt::format("{}/{}", d.kv_blocks_free, d.kv_blocks_total);
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

}  // namespace

nlohmann::json record_json(const schemas::JobRecord& r) {
  nlohmann::json usage{{"prompt_tokens", r.usage.prompt_tokens},
                       {"completion_tokens", r.usage.completion_tokens},
                       {"queue_ms", r.usage.queue_ms},
                       {"ttft_ms", r.usage.ttft_ms},
                       {"decode_tps", r.usage.decode_tps}};
  return nlohmann::json{{"job", r.job_id},
                        {"state", std::string(schemas::job_state_name(r.state))},
                        {"model", r.model},
                        {"model_version", r.model_version},
                        {"priority", std::string(schemas::priority_name(r.priority))},
                        {"worker", r.worker},
                        {"device", r.device},
                        {"attempt", r.attempt},
                        {"usage", usage},
                        {"error_code", std::string(schemas::error_code_name(r.error_code))},
                        {"error", r.error},
                        {"finish_reason", r.finish_reason},
                        {"tenant", r.tenant},
                        {"created_ms", r.created_ms},
                        {"dispatched_ms", r.dispatched_ms},
                        {"started_ms", r.started_ms},
                        {"finished_ms", r.finished_ms}};
}

nlohmann::json token_json(const schemas::TokenEntry& e) {
  return nlohmann::json{{"job", e.job_id}, {"seq", e.seq}, {"token", e.token}, {"text", e.text}};
}

nlohmann::json device_json(const schemas::DeviceStatus& d) {
  nlohmann::json j{{"worker", d.worker},         {"device", d.device},
                   {"models", d.models},         {"free_slots", d.free_slots},
                   {"max_slots", d.max_slots},   {"running", d.running}};
  j["kv_blocks_free"] = d.kv_blocks_free;
  j["kv_blocks_total"] = d.kv_blocks_total;
  j["no_chat"] = d.no_chat;
  j["last_heartbeat_ms"] = d.last_heartbeat_ms;
  return j;
}

std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string record_text(const schemas::JobRecord& r) {
  std::string where = r.worker.empty() ? "-" : fmt::format("{}/{}", r.worker, r.device);
  std::string model = r.model_version > 0 ? schemas::model_key(r.model, r.model_version) : r.model;
  std::string out = fmt::format("job {}  {}  model {}  worker {}  attempt {}  priority {}\n", r.job_id,
                                schemas::job_state_name(r.state), model, where, r.attempt,
                                schemas::priority_name(r.priority));
  out += fmt::format("usage: {} prompt + {} completion tokens, queue {:.1f} ms, ttft {:.1f} ms, {:.1f} tokens/s\n",
                     r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.queue_ms,
                     r.usage.ttft_ms, r.usage.decode_tps);
  if (r.error_code != schemas::ErrorCode::kOk || !r.error.empty()) {
    out += fmt::format("error: {}: {}\n", schemas::error_code_name(r.error_code), r.error);
  }
  return out;
}

std::string devices_table(const std::vector<schemas::DeviceStatus>& devices) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"WORKER", "DEVICE", "MODELS", "RUNNING", "FREE", "MAX", "KV_FREE/TOTAL", "CHAT"});
  std::string notes;  // why a model cannot chat, once per worker and model
  for (const auto& d : devices) {
    std::string models = d.models.empty() ? "-" : join(d.models, ",");
    const char* chat = d.no_chat.empty() ? "yes" : d.no_chat.size() < d.models.size() ? "some" : "no";
    rows.push_back({d.worker, std::to_string(d.device), models, std::to_string(d.running),
                    std::to_string(d.free_slots), std::to_string(d.max_slots), kv_cell(d), chat});
    for (const std::string& why : d.no_chat) {
      std::string line = fmt::format("no chat on {}: {}\n", d.worker, why);
      if (notes.find(line) == std::string::npos) notes += line;
    }
  }
  return aligned_table(rows) + notes;
}

std::string aligned_table(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return "";
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size() && i < width.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

void print_record(const schemas::JobRecord& record, bool json) {
  if (json) {
    std::printf("%s\n", json_line(record_json(record)).c_str());
  } else {
    std::fputs(record_text(record).c_str(), stdout);
  }
  std::fflush(stdout);
}

}  // namespace rs::cli
