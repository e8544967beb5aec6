// Progress bar / plain progress lines for `ringserve batch run`.
#include "batch_progress.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

namespace rs::cli {

namespace {

constexpr int64_t kTtyRedrawMs = 100;
constexpr int kBarWidth = 30;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string eta_of(const ProgressCounts& c, double rate) {
  if (c.done >= c.total) return "0s";
  if (rate <= 0) return "-";
  return format_eta(static_cast<double>(c.total - c.done) / rate);
}

}  // namespace

std::string format_eta(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "-";
  auto s = static_cast<int64_t>(std::ceil(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string progress_bar_line(const ProgressCounts& c, double rate, int width) {
  double frac = c.total == 0 ? 1.0 : static_cast<double>(c.done) / static_cast<double>(c.total);
  int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '-');
  std::string line = fmt::format("[{}] {}/{}  {:3.0f}%  {:.1f}/s  ETA {}", bar, c.done, c.total, frac * 100, rate,
                                 eta_of(c, rate));
  if (c.failed > 0) line += fmt::format("  {} failed", c.failed);
  return line;
}

std::string progress_plain_line(const std::string& batch, const ProgressCounts& c, double rate) {
  return fmt::format("batch {}: {}/{} done, {} failed, {:.1f}/s, ETA {}", batch, c.done, c.total, c.failed, rate,
                     eta_of(c, rate));
}

BatchProgress::BatchProgress(std::string batch, size_t already_done, bool tty, int64_t plain_interval_ms,
                             std::FILE* out)
    : batch_(std::move(batch)),
      start_done_(already_done),
      tty_(tty),
      interval_ms_(plain_interval_ms),
      out_(out),
      start_ms_(steady_ms()) {}

double BatchProgress::rate(const ProgressCounts& c, int64_t now_ms) const {
  double secs = static_cast<double>(now_ms - start_ms_) / 1000.0;
  size_t here = c.done > start_done_ ? c.done - start_done_ : 0;
  return secs > 0.05 ? static_cast<double>(here) / secs : 0.0;
}

void BatchProgress::draw(const ProgressCounts& c, int64_t now_ms) {
  last_draw_ms_ = now_ms;
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s", progress_bar_line(c, rate(c, now_ms), kBarWidth).c_str());
  } else {
    std::fprintf(out_, "%s\n", progress_plain_line(batch_, c, rate(c, now_ms)).c_str());
  }
  std::fflush(out_);
}

void BatchProgress::update(const ProgressCounts& c) {
  int64_t now = steady_ms();
  int64_t every = tty_ ? kTtyRedrawMs : interval_ms_;
  if (last_draw_ms_ < 0 ? (tty_ || now - start_ms_ >= every) : now - last_draw_ms_ >= every) draw(c, now);
}

void BatchProgress::finish(const ProgressCounts& c) {
  draw(c, steady_ms());
  if (tty_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

}  // namespace rs::cli
