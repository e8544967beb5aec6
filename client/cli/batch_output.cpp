// OUTPUT.jsonl: resume scan, line format, the batch id sidecar, the flushing writer.
#include "batch_output.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "batch_input.h"
#include "json_format.h"
#include "rs/schemas/errors.h"

namespace rs::cli {

namespace {

bool failed_state(const std::string& state) { return state == "FAILED" || state == "CANCELLED"; }

// One complete line of OUTPUT into the scan; false when it is not a result line.
bool take_line(std::string_view text, OutputScan& scan) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  auto id = j.find("id");
  if (id == j.end() || !id->is_string()) return false;
  scan.ids.insert(id->get<std::string>());
  auto state = j.find("state");
  if (state != j.end() && state->is_string()) {
    if (state->get_ref<const std::string&>() == "SUCCEEDED") ++scan.succeeded;
    if (failed_state(state->get<std::string>())) ++scan.failed;
  }
  return true;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Result<OutputScan> scan_output(const std::string& path) {
  OutputScan scan;
  std::ifstream in(path, std::ios::binary);
  if (!in) return scan;
  scan.exists = true;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  size_t start = 0;
  size_t line_no = 0;
  while (start < all.size()) {
    size_t nl = all.find('\n', start);
    ++line_no;
    if (nl == std::string::npos) {  // torn by a kill mid-write: the result is still pending
      if (::truncate(path.c_str(), static_cast<off_t>(start)) != 0) {
        return io_error("cannot cut the incomplete last line of " + path + ": " + std::strerror(errno));
      }
      scan.cut_torn_line = true;
      break;
    }
    std::string_view text(all.data() + start, nl - start);
    if (text.find_first_not_of(" \t\r") != std::string_view::npos && !take_line(text, scan)) {
      return invalid_argument(path + ":" + std::to_string(line_no) +
                              ": not a result line (a JSON object with a string \"id\"); fix or remove it");
    }
    start = nl + 1;
  }
  return scan;
}

nlohmann::ordered_json output_line(const store::BatchResult& r) {
  const auto& rec = r.record;
  nlohmann::ordered_json usage{{"prompt_tokens", rec.usage.prompt_tokens},
                               {"completion_tokens", rec.usage.completion_tokens},
                               {"queue_ms", rec.usage.queue_ms},
                               {"ttft_ms", rec.usage.ttft_ms},
                               {"decode_tps", rec.usage.decode_tps}};
  return nlohmann::ordered_json{{"id", r.item_id},
                                {"state", std::string(schemas::job_state_name(rec.state))},
                                {"text", r.text},
                                {"usage", std::move(usage)},
                                {"error", rec.error},
                                {"job_id", rec.job_id},
                                {"model_version", rec.model_version},
                                {"error_code", std::string(schemas::error_code_name(rec.error_code))}};
}

std::string fresh_batch_id() {
  auto now = std::chrono::system_clock::now();
  time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::random_device rd;
  uint32_t r = rd();
  return fmt::format("b-{:04}{:02}{:02}-{:02}{:02}{:02}-{:08x}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, r);
}

Result<std::string> resolve_batch_id(const std::string& flag, const std::string& output_path, bool output_exists) {
  const std::string sidecar = output_path + ".batch";
  if (!flag.empty() && !valid_batch_id(flag)) {
    return invalid_argument("bad --batch '" + flag + "': want 1-128 of A-Z a-z 0-9 . _ : -");
  }
  std::string stored;
  if (std::ifstream in(sidecar); in && output_exists) {
    std::stringstream ss;
    ss << in.rdbuf();
    stored = trim(ss.str());
    if (!valid_batch_id(stored)) return invalid_argument(sidecar + ": not a batch id ('" + stored.substr(0, 40) + "')");
    if (!flag.empty() && flag != stored) {
      return invalid_argument("--batch " + flag + " but " + sidecar + " holds batch " + stored +
                              " (use another -o, or remove " + sidecar + ")");
    }
    return stored;
  }
  std::string id = flag.empty() ? fresh_batch_id() : flag;
  std::ofstream out(sidecar, std::ios::trunc);
  out << id << "\n";
  out.flush();
  if (!out) return io_error("cannot write " + sidecar);
  return id;
}

OutputWriter::~OutputWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Status OutputWriter::open(const std::string& path) {
  path_ = path;
  file_ = std::fopen(path.c_str(), "ab");
  if (file_ == nullptr) return io_error("cannot open output " + path + ": " + std::strerror(errno));
  return Status();
}

Status OutputWriter::write(const nlohmann::ordered_json& line) {
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    return io_error("cannot write " + path_ + ": " + std::strerror(errno));
  }
  return Status();
}

}  // namespace rs::cli
