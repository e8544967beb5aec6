#include "rs/metrics/text_parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace rs::metrics {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_metric_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '_' || c == ':'; }
bool is_label_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// Walks one line left to right.
class LineCursor {
 public:
  explicit LineCursor(std::string_view s) : s_(s) {}
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  void skip_blanks() {
    while (!at_end() && is_blank(s_[pos_])) ++pos_;
  }
  bool consume(char c) {
    if (peek() != c || at_end()) return false;
    ++pos_;
    return true;
  }
  char next() { return s_[pos_++]; }
  template <typename Pred>
  std::string_view take_while(Pred pred) {
    const size_t start = pos_;
    while (!at_end() && pred(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  std::string_view take_token() { return take_while([](char c) { return !is_blank(c); }); }
  std::string_view rest() const { return at_end() ? std::string_view() : s_.substr(pos_); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// A quoted name for messages, cut short (the input is not trusted to be small or printable).
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 64)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  return out + (s.size() > 64 ? "...'" : "'");
}

std::string_view take_metric_name(LineCursor& cur) {
  if (is_digit(cur.peek())) return {};
  return cur.take_while(is_metric_name_char);
}

// The text of a label value after its opening quote, through the closing one.
Result<std::string> read_label_value(LineCursor& cur, std::string_view label) {
  std::string out;
  while (!cur.at_end()) {
    const char c = cur.next();
    if (c == '"') return out;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (cur.at_end()) break;
    const char e = cur.next();
    if (e == '\\' || e == '"') {
      out += e;
    } else if (e == 'n') {
      out += '\n';
    } else {
      return invalid_argument("unknown escape \\" + std::string(1, e) + " in the value of label " +
                              quoted(label));
    }
  }
  return invalid_argument("unterminated value of label " + quoted(label));
}

// The label set after '{', through '}'.
Status read_labels(LineCursor& cur, Sample& sample) {
  for (;;) {
    cur.skip_blanks();
    if (cur.consume('}')) return Status();
    const std::string_view name =
        is_digit(cur.peek()) ? std::string_view() : cur.take_while(is_label_name_char);
    if (name.empty()) return invalid_argument("expected a label name or '}'");
    cur.skip_blanks();
    if (!cur.consume('=')) return invalid_argument("expected '=' after label " + quoted(name));
    cur.skip_blanks();
    if (!cur.consume('"')) return invalid_argument("expected '\"' to open label " + quoted(name));
    RS_ASSIGN_OR_RETURN(std::string value, read_label_value(cur, name));
    for (const auto& [n, v] : sample.labels) {
      if (n == name) return invalid_argument("duplicate label " + quoted(name));
    }
    sample.labels.emplace_back(std::string(name), std::move(value));
    cur.skip_blanks();
    if (cur.consume(',')) continue;
    if (cur.consume('}')) return Status();
    return invalid_argument("expected ',' or '}' after label " + quoted(name));
  }
}

Result<int64_t> parse_timestamp(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    return invalid_argument("bad timestamp " + quoted(s) + " (want integer milliseconds)");
  }
  return v;
}

Result<Sample> parse_sample_line(std::string_view line) {
  LineCursor cur(line);
  Sample sample;
  const std::string_view name = take_metric_name(cur);
  if (name.empty()) return invalid_argument("expected a metric name");
  sample.name = std::string(name);
  if (cur.consume('{')) {
    RS_RETURN_IF_ERROR(read_labels(cur, sample));
  } else if (!is_blank(cur.peek())) {
    return invalid_argument(cur.at_end() ? "no value after " + quoted(name)
                                         : "unexpected character after " + quoted(name));
  }
  cur.skip_blanks();
  const std::string_view value = cur.take_token();
  if (value.empty()) return invalid_argument("no value for " + quoted(name));
  const std::optional<double> v = parse_sample_value(value);
  if (!v) return invalid_argument("bad value " + quoted(value) + " for " + quoted(name));
  sample.value = *v;
  cur.skip_blanks();
  if (!cur.at_end()) {
    RS_ASSIGN_OR_RETURN(int64_t ts, parse_timestamp(cur.take_token()));
    sample.timestamp_ms = ts;
    cur.skip_blanks();
    if (!cur.at_end()) return invalid_argument("unexpected text after the timestamp: " + quoted(cur.rest()));
  }
  return sample;
}

// A line starting with '#': # HELP NAME TEXT and # TYPE NAME TYPE are checked, any other
// comment is skipped.
Status check_comment(std::string_view line) {
  LineCursor cur(line.substr(1));
  cur.skip_blanks();
  const std::string_view keyword = cur.take_token();
  if (keyword != "HELP" && keyword != "TYPE") return Status();
  cur.skip_blanks();
  const std::string_view name = take_metric_name(cur);
  if (name.empty() || !(cur.at_end() || is_blank(cur.peek()))) {
    return invalid_argument("# " + std::string(keyword) + " without a valid metric name");
  }
  if (keyword == "HELP") return Status();
  cur.skip_blanks();
  const std::string_view type = cur.take_token();
  cur.skip_blanks();
  static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram", "summary", "untyped"};
  if (std::find(std::begin(kTypes), std::end(kTypes), type) == std::end(kTypes) || !cur.at_end()) {
    return invalid_argument("# TYPE " + std::string(name) + ": unknown type " + quoted(type));
  }
  return Status();
}

Status at_line(size_t line_no, const Status& s) {
  return Status(s.code(), "line " + std::to_string(line_no) + ": " + s.message());
}

}  // namespace

std::optional<double> parse_sample_value(std::string_view s) {
  if (s.empty()) return std::nullopt;
  const bool negative = s.front() == '-';
  std::string_view body = (s.front() == '+' || s.front() == '-') ? s.substr(1) : s;
  if (iequals(body, "inf") || iequals(body, "infinity")) {
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (iequals(body, "nan")) return std::numeric_limits<double>::quiet_NaN();
  if (body.empty() || !(is_digit(body.front()) || body.front() == '.')) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  // Out of range is still a number (as Go's ParseFloat: +-Inf or 0).
  if (end != body.data() + body.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    return std::nullopt;
  }
  return negative ? -v : v;
}

Result<std::vector<Sample>> parse_text(std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    return resource_exhausted("metrics text of " + std::to_string(text.size()) + " bytes > " +
                              std::to_string(kMaxTextBytes));
  }
  std::vector<Sample> out;
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.size() > kMaxTextLineBytes) {
      return resource_exhausted("line " + std::to_string(line_no) + ": longer than " +
                                std::to_string(kMaxTextLineBytes) + " bytes");
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      if (Status s = check_comment(line); !s.ok()) return at_line(line_no, s);
      continue;
    }
    Result<Sample> sample = parse_sample_line(line);
    if (!sample.ok()) return at_line(line_no, sample.status());
    out.push_back(std::move(sample).value());
  }
  return out;
}

std::optional<std::string_view> label_value(const Sample& sample, std::string_view name) {
  for (const auto& [n, v] : sample.labels) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

double histogram_quantile(double q, std::vector<BucketCount> buckets) {
  if (std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  std::erase_if(buckets, [](const BucketCount& b) { return std::isnan(b.le) || std::isnan(b.count); });
  std::sort(buckets.begin(), buckets.end(),
            [](const BucketCount& a, const BucketCount& b) { return a.le < b.le; });
  // Buckets of one bound (the same series scraped twice, or several series) add up.
  std::vector<BucketCount> merged;
  for (const BucketCount& b : buckets) {
    if (!merged.empty() && merged.back().le == b.le) {
      merged.back().count += b.count;
    } else {
      merged.push_back(b);
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (merged.size() < 2 || !std::isinf(merged.back().le) || merged.back().le < 0) return nan;
  for (size_t i = 1; i < merged.size(); ++i) merged[i].count = std::max(merged[i].count, merged[i - 1].count);
  const double observations = merged.back().count;
  if (observations <= 0) return nan;
  double rank = q * observations;
  const auto it = std::find_if(merged.begin(), merged.end(),
                               [rank](const BucketCount& b) { return b.count >= rank; });
  const size_t b = static_cast<size_t>(it - merged.begin());
  if (b >= merged.size() - 1) return merged[merged.size() - 2].le;
  if (b == 0 && merged[0].le <= 0) return merged[0].le;
  double start = 0;
  double count = merged[b].count;
  if (b > 0) {
    start = merged[b - 1].le;
    count -= merged[b - 1].count;
    rank -= merged[b - 1].count;
  }
  if (count <= 0) return merged[b].le;
  return start + (merged[b].le - start) * (rank / count);
}

}  // namespace rs::metrics
