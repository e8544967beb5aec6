// Progress of `ringserve batch run` on stderr: a bar redrawn in place (done/total, rate,
// ETA) when stderr is a terminal, else one plain line every interval. Main thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace rs::cli {

struct ProgressCounts {
  size_t total = 0;
  size_t done = 0;    // lines in OUTPUT, this run's and earlier ones'
  size_t failed = 0;  // of done: FAILED or CANCELLED
};

// "2m05s", "15s", "1h02m"; "-" for a negative or absurd value.
std::string format_eta(double seconds);
// The bar line (no '\r'): "[#####-----] 312/1000  31%  45.2/s  ETA 15s  2 failed".
std::string progress_bar_line(const ProgressCounts& c, double rate_per_s, int width);
// The plain line: "batch b-1: 312/1000 done, 2 failed, 45.2/s, ETA 15s".
std::string progress_plain_line(const std::string& batch, const ProgressCounts& c, double rate_per_s);

class BatchProgress {
 public:
  // already_done: lines found in OUTPUT at start (not counted in the rate).
  BatchProgress(std::string batch, size_t already_done, bool tty, int64_t plain_interval_ms,
                std::FILE* out = stderr);
  // Draws when due (tty: at most every 100 ms; plain: every interval).
  void update(const ProgressCounts& c);
  // Final draw (tty: ends the bar's line).
  void finish(const ProgressCounts& c);

 private:
  double rate(const ProgressCounts& c, int64_t now_ms) const;
  void draw(const ProgressCounts& c, int64_t now_ms);

  std::string batch_;
  size_t start_done_;
  bool tty_;
  int64_t interval_ms_;
  std::FILE* out_;
  int64_t start_ms_;
  int64_t last_draw_ms_ = -1;
};

}  // namespace rs::cli
