// A parser of the Prometheus text exposition format (0.0.4) into plain samples, and the
// quantile of a cumulative histogram as PromQL's histogram_quantile() computes it. Pure
// functions of their arguments, without state: any thread. Input is bounded (16 MiB in
// all, 64 KiB a line); nothing in it is trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rs/core/result.h"

namespace rs::metrics {

inline constexpr size_t kMaxTextBytes = 16u << 20;  // a whole exposition
inline constexpr size_t kMaxTextLineBytes = 64u << 10;  // one line

// One sample line: `name{labels} value [timestamp]`. A histogram's series appear as their
// `_bucket` (with `le`), `_sum` and `_count` samples, as written.
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in the order written, unescaped
  double value = 0;
  std::optional<int64_t> timestamp_ms;  // when the line had one
};

// Every sample of `text`, in order. # HELP and # TYPE lines are checked (a metric name; a
// known type) but not returned; other comments and blank lines are skipped. Errors:
// invalid_argument "line N: ..." for a malformed line (bad name, unterminated or unknown
// escape, duplicate label, bad value or timestamp, trailing garbage); resource_exhausted
// for a text over kMaxTextBytes or a line over kMaxTextLineBytes (naming the line).
Result<std::vector<Sample>> parse_text(std::string_view text);

// A sample value as the format writes it: a decimal or exponent number (optional sign),
// +Inf / -Inf / Inf / NaN (any case). std::nullopt for anything else.
std::optional<double> parse_sample_value(std::string_view s);

// The value of label `name` of a sample; std::nullopt when it has none.
std::optional<std::string_view> label_value(const Sample& sample, std::string_view name);

// One cumulative bucket: observations <= le (le may be +Inf).
struct BucketCount {
  double le = 0;
  double count = 0;
};

// The q-quantile (0 <= q <= 1) of a histogram given as cumulative buckets in any order, as
// PromQL's histogram_quantile: buckets of the same bound are merged, counts made
// monotonic, the rank q * total located, and linear interpolation applied inside its
// bucket (from 0 for the first bucket, unless its bound is <= 0). A rank in the +Inf
// bucket answers the highest finite bound. NaN when there is no +Inf bucket, fewer than
// two buckets or no observation; -Inf / +Inf for q < 0 / q > 1.
double histogram_quantile(double q, std::vector<BucketCount> buckets);

}  // namespace rs::metrics
