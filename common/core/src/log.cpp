#include "rs/core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace rs {
namespace {

std::vector<std::pair<std::string, std::string>>& static_fields() {
  static std::vector<std::pair<std::string, std::string>> fields;
  return fields;
}

// The length of the valid UTF-8 sequence at s[i] (0: invalid).
size_t utf8_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

bool is_word_end(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == ':' || c == ',' || c == ')' ||
         c == ';' || c == '\'' || c == '"' || c == '/';
}

std::string word_at(std::string_view s, size_t i) {
  size_t j = i;
  while (j < s.size() && !is_word_end(s[j])) ++j;
  return std::string(s.substr(i, j - i));
}

bool is_job_id_at(std::string_view s, size_t i, size_t* len) {
  // j- + 16 hex + - + digits
  if (i + 20 > s.size() || s[i] != 'j' || s[i + 1] != '-' || s[i + 18] != '-') return false;
  if (i > 0 && (std::isalnum(static_cast<unsigned char>(s[i - 1])) || s[i - 1] == '-')) return false;
  for (size_t k = 2; k < 18; ++k) {
    if (!std::isxdigit(static_cast<unsigned char>(s[i + k]))) return false;
  }
  size_t j = i + 19;
  while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  if (j == i + 19) return false;
  *len = j - i;
  return true;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string program) : program_(std::move(program)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto t = std::chrono::system_clock::to_time_t(msg.time);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[64];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    const auto level = spdlog::level::to_string_view(msg.level);
    const std::string line =
        json_log_line(ts, std::string_view(level.data(), level.size()), program_,
                      std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(program_);
  }

 private:
  std::string program_;
};

}  // namespace

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const size_t n = utf8_length(text, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(text.substr(i, n));
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
    i += n;
  }
  return out + "\"";
}

LogSubjects log_subjects(std::string_view msg) {
  LogSubjects s;
  for (size_t i = 0; i < msg.size(); ++i) {
    size_t len = 0;
    if (s.job.empty() && msg[i] == 'j' && is_job_id_at(msg, i, &len)) {
      s.job = std::string(msg.substr(i, len));
    } else if (s.worker.empty() && msg.compare(i, 7, "worker ") == 0 &&
               (i == 0 || !std::isalnum(static_cast<unsigned char>(msg[i - 1])))) {
      std::string w = word_at(msg, i + 7);
      if (w.find_first_of("0123456789") != std::string::npos) s.worker = std::move(w);
    } else if (!s.device && msg.compare(i, 7, "device ") == 0 && i + 7 < msg.size() &&
               std::isdigit(static_cast<unsigned char>(msg[i + 7]))) {
      s.device = std::atoi(std::string(msg.substr(i + 7, 9)).c_str());
    }
  }
  return s;
}

std::string json_log_line(std::string_view ts, std::string_view level, std::string_view program,
                          std::string_view msg) {
  std::string out;
  auto field = [&out](std::string_view key, const std::string& json_value) {
    out += out.empty() ? '{' : ',';
    out += json_quote(key);
    out += ':';
    out += json_value;
  };
  field("ts", json_quote(ts));
  field("level", json_quote(level));
  if (!program.empty()) field("program", json_quote(program));
  field("msg", json_quote(msg));
  LogSubjects s = log_subjects(msg);
  bool worker_given = false;
  for (const auto& [key, value] : static_fields()) {
    field(key, json_quote(value));
    worker_given = worker_given || key == "worker";
  }
  if (!s.job.empty()) field("job", json_quote(s.job));
  if (!s.worker.empty() && !worker_given) field("worker", json_quote(s.worker));
  if (s.device) field("device", std::to_string(*s.device));
  out += '}';
  return out;
}

bool valid_log_format(std::string_view format) { return format == "text" || format == "json"; }

void set_log_field(std::string key, std::string value) {
  for (auto& [k, v] : static_fields()) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  static_fields().emplace_back(std::move(key), std::move(value));
}

void init_logging(std::string_view level, std::string_view format, std::string_view program) {
  auto logger = spdlog::get("ringserve");
  if (!logger) logger = spdlog::stderr_color_mt("ringserve");
  spdlog::set_default_logger(logger);
  if (format == "json") {
    spdlog::set_formatter(std::make_unique<JsonFormatter>(std::string(program)));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  }
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace rs
