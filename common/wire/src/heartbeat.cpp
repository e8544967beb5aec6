#include "rs/wire/heartbeat.h"

#include <algorithm>

namespace rs::wire {

Heartbeat::Heartbeat(const Clock& clock, HeartbeatOptions options)
    : clock_(&clock), options_(options) {
  options_.interval_ms = std::max<int64_t>(options_.interval_ms, 1);
  options_.missed_beats = std::max(options_.missed_beats, 1);
  reset();
}

void Heartbeat::on_received() {
  last_received_ns_ = clock_->now_ns();
}

void Heartbeat::on_sent() {
  next_send_ns_ = clock_->now_ns() + interval_ns();
}

void Heartbeat::reset() {
  last_received_ns_ = clock_->now_ns();
  next_send_ns_ = last_received_ns_;
}

bool Heartbeat::send_due() const {
  return clock_->now_ns() >= next_send_ns_;
}

bool Heartbeat::peer_dead() const {
  return missed() >= options_.missed_beats;
}

int Heartbeat::missed() const {
  const int64_t silent_ns = clock_->now_ns() - last_received_ns_;
  if (silent_ns <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(silent_ns / interval_ns(), 1 << 30));
}

int64_t Heartbeat::ms_until_next_event() const {
  const int64_t now = clock_->now_ns();
  const int64_t dead_at = last_received_ns_ + interval_ns() * options_.missed_beats;
  const int64_t next = std::min(next_send_ns_, dead_at);
  if (next <= now) return 0;
  return (next - now + 999'999) / 1'000'000;  // round up: never wake before the event
}

Backoff::Backoff(BackoffOptions options) : options_(options) {
  options_.initial_ms = std::max<int64_t>(options_.initial_ms, 1);
  options_.max_ms = std::max(options_.max_ms, options_.initial_ms);
  delay_ms_ = options_.initial_ms;
}

int64_t Backoff::next_delay_ms() {
  const int64_t delay = delay_ms_;
  delay_ms_ = std::min(delay_ms_ * 2, options_.max_ms);
  ++attempts_;
  return delay;
}

void Backoff::reset() {
  delay_ms_ = options_.initial_ms;
  attempts_ = 0;
}

}  // namespace rs::wire
