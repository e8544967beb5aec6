// Heartbeat timing à la Paranoid Pirate: when to send the next beat, when the peer is dead
// (N beats missed), liveness reset by any inbound message; and reconnect backoff. Pure (no
// sockets), time from an injected rs::Clock that must outlive it; not thread-safe: one
// loop thread owns each instance.
#pragma once

#include <cstdint>

#include "rs/core/clock.h"

namespace rs::wire {

struct HeartbeatOptions {
  int64_t interval_ms = 1000;  // send a beat this often (when nothing else was sent)
  int missed_beats = 3;        // peer dead after this many intervals of silence
};

class Heartbeat {
 public:
  // Starts live: the peer counts as just heard from, and the first beat is due now.
  Heartbeat(const Clock& clock, HeartbeatOptions options = {});

  // Any inbound message from the peer (not only heartbeats) resets its liveness.
  void on_received();
  // We sent something to the peer (a beat or any message): the next beat is due later.
  void on_sent();
  // Forget the past: used after (re)connecting; the peer counts as just heard from.
  void reset();

  bool send_due() const;
  bool peer_dead() const;
  // Beats missed so far (0 right after on_received()).
  int missed() const;
  // Milliseconds until the next send or death deadline (>= 0): the loop's poll timeout.
  int64_t ms_until_next_event() const;

  const HeartbeatOptions& options() const { return options_; }

 private:
  int64_t interval_ns() const { return options_.interval_ms * 1'000'000; }

  const Clock* clock_;
  HeartbeatOptions options_;
  int64_t last_received_ns_ = 0;
  int64_t next_send_ns_ = 0;
};

struct BackoffOptions {
  int64_t initial_ms = 100;  // first delay
  int64_t max_ms = 5000;     // delays double up to this
};

// Reconnect backoff: 100, 200, 400, ... max, max, ...; reset() after a success.
class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {});
  // The delay before the next attempt; each call doubles the following one (up to max).
  int64_t next_delay_ms();
  // Delay the next call would return, without consuming it.
  int64_t peek_delay_ms() const { return delay_ms_; }
  int attempts() const { return attempts_; }
  void reset();

 private:
  BackoffOptions options_;
  int64_t delay_ms_;
  int attempts_ = 0;
};

}  // namespace rs::wire
