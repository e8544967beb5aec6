// INPUT.jsonl -> BatchLines, with line-numbered errors.
#include "batch_input.h"

#include <fstream>
#include <limits>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace rs::cli {

namespace {

constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxReportedErrors = 10;

using Json = nlohmann::json;

Status bad(std::string_view key, const std::string& what) {
  return invalid_argument("\"" + std::string(key) + "\" " + what);
}

// The value of an optional key, when present and not null.
const Json* find_key(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> parse_id(const Json& v) {
  std::string id;
  if (v.is_string()) {
    id = v.get<std::string>();
  } else if (v.is_number_unsigned() || v.is_number_integer()) {
    id = v.dump();
  } else {
    return bad("id", "must be a string or an integer");
  }
  if (!valid_batch_id(id)) return bad("id", "must be 1-128 of A-Z a-z 0-9 . _ : - (got '" + id.substr(0, 40) + "')");
  return id;
}

Status parse_number(const Json& j, const char* key, double lo, double hi, float& out) {
  const Json* v = find_key(j, key);
  if (v == nullptr) return Status();
  if (!v->is_number()) return bad(key, "must be a number");
  double d = v->get<double>();
  if (!(d >= lo && d <= hi)) return bad(key, "out of range");
  out = static_cast<float>(d);
  return Status();
}

Status parse_stop(const Json& j, std::vector<std::string>& out) {
  const Json* v = find_key(j, "stop");
  if (v == nullptr) return Status();
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
    return Status();
  }
  if (!v->is_array()) return bad("stop", "must be a string or an array of strings");
  for (const auto& s : *v) {
    if (!s.is_string()) return bad("stop", "must be a string or an array of strings");
    out.push_back(s.get<std::string>());
  }
  return Status();
}

Status parse_integers(const Json& j, schemas::SubmitRequest& r) {
  if (const Json* v = find_key(j, "max_tokens")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 1 || v->get<int64_t>() > std::numeric_limits<uint32_t>::max()) {
      return bad("max_tokens", "must be a positive integer");
    }
    r.max_tokens = static_cast<uint32_t>(v->get<int64_t>());
  }
  if (const Json* v = find_key(j, "top_k")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return bad("top_k", "must be an integer >= 0");
    }
    r.sampling.top_k = static_cast<int32_t>(v->get<int64_t>());
  }
  if (const Json* v = find_key(j, "seed")) {
    if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0)) {
      return bad("seed", "must be an integer >= 0");
    }
    r.sampling.seed = v->get<uint64_t>();
  }
  return Status();
}

Status parse_fields(const Json& j, const BatchDefaults& defaults, schemas::SubmitRequest& r) {
  const Json* prompt = find_key(j, "prompt");
  if (prompt == nullptr) return invalid_argument("\"prompt\" missing");
  if (!prompt->is_string() || prompt->get_ref<const std::string&>().empty()) {
    return bad("prompt", "must be a non-empty string");
  }
  r.prompt = prompt->get<std::string>();
  r.model = defaults.model;
  if (const Json* m = find_key(j, "model")) {
    if (!m->is_string() || m->get_ref<const std::string&>().empty()) return bad("model", "must be a non-empty string");
    r.model = m->get<std::string>();
  }
  if (r.model.empty()) return invalid_argument("no model: set \"model\" or pass --model");
  r.max_tokens = defaults.max_tokens;
  if (defaults.temperature) r.sampling.temperature = *defaults.temperature;
  if (defaults.seed) r.sampling.seed = *defaults.seed;
  RS_RETURN_IF_ERROR(parse_integers(j, r));
  RS_RETURN_IF_ERROR(parse_number(j, "temperature", 0.0, 100.0, r.sampling.temperature));
  RS_RETURN_IF_ERROR(parse_number(j, "top_p", 0.0, 1.0, r.sampling.top_p));
  return parse_stop(j, r.stop);
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

bool valid_batch_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<BatchLine> parse_batch_line(std::string_view text, size_t line_no, const BatchDefaults& defaults) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return invalid_argument("not valid JSON");
  if (!j.is_object()) return invalid_argument("not a JSON object");
  BatchLine line;
  line.line_no = line_no;
  line.id = std::to_string(line_no);
  if (const Json* id = find_key(j, "id")) {
    RS_ASSIGN_OR_RETURN(line.id, parse_id(*id));
  }
  line.request.priority = schemas::Priority::kBatch;
  line.request.stream = false;
  RS_RETURN_IF_ERROR(parse_fields(j, defaults, line.request));
  return line;
}

Result<std::vector<BatchLine>> read_batch_input(const std::string& path, const BatchDefaults& defaults) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kNotFound, "cannot open input " + path);
  std::vector<BatchLine> lines;
  std::unordered_map<std::string, size_t> first_line;  // id -> line
  std::vector<std::string> errors;
  size_t n_errors = 0;
  auto fail = [&](size_t line_no, const std::string& what) {
    if (++n_errors <= kMaxReportedErrors) errors.push_back(path + ":" + std::to_string(line_no) + ": " + what);
  };
  size_t line_no = 0;
  for (std::string text; std::getline(in, text);) {
    ++line_no;
    if (blank(text)) continue;
    auto line = parse_batch_line(text, line_no, defaults);
    if (!line.ok()) {
      fail(line_no, line.status().message());
      continue;
    }
    auto [it, fresh] = first_line.emplace(line->id, line_no);
    if (!fresh) {
      fail(line_no, "duplicate id '" + line->id + "' (first on line " + std::to_string(it->second) + ")");
      continue;
    }
    lines.push_back(std::move(line).value());
  }
  if (n_errors > 0) {
    std::string msg = std::to_string(n_errors) + " bad input line" + (n_errors > 1 ? "s" : "") + ", nothing enqueued";
    for (const auto& e : errors) msg += "\n  " + e;
    if (n_errors > errors.size()) msg += "\n  ... and " + std::to_string(n_errors - errors.size()) + " more";
    return invalid_argument(msg);
  }
  if (lines.empty()) return invalid_argument(path + ": no input lines");
  return lines;
}

}  // namespace rs::cli
