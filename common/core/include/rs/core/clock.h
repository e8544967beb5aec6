// Clock: the source of time for pure classes (scheduler, queues, routing), injectable
// so tests can drive time by hand. SteadyClock is stateless; ManualClock is not
// thread-safe and belongs to the test that owns it.
#pragma once

#include <chrono>
#include <cstdint>

namespace rs {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time in nanoseconds since an arbitrary epoch.
  virtual int64_t now_ns() const = 0;
  double now_ms() const { return static_cast<double>(now_ns()) / 1e6; }
};

class SteadyClock final : public Clock {
 public:
  int64_t now_ns() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static const SteadyClock& instance() {
    static const SteadyClock clock;
    return clock;
  }
};

class ManualClock final : public Clock {
 public:
  int64_t now_ns() const override { return now_ns_; }
  void advance_ms(double ms) { now_ns_ += static_cast<int64_t>(ms * 1e6); }
  void set_ns(int64_t ns) { now_ns_ = ns; }

 private:
  int64_t now_ns_ = 1'000'000'000;
};

}  // namespace rs
